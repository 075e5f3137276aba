import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardProtocol

/// The last public lines of the chat — said here, or relayed from the other servers — kept in memory so a
/// newcomer's replay (`--history-on-join`) needs no database read. A read per join cost about a third of the
/// server's CPU per connection under churn (it also cut the history's linger short: the read waits for the
/// queued writes), for lines the hub had just relayed itself.
///
/// It starts **unseeded**: the first replay reads the last ``capacity`` lines from the database (those of
/// earlier runs and of the other servers), and until that read comes back the lines relayed meanwhile wait
/// beside it. A failed read leaves it unseeded (the next replay tries again), as a replay from the database
/// got nothing when the database did not answer.
///
/// ```
///  unseeded ──beginSeeding(at: t)──▶ seeding ──seed(stored)──▶ seeded: stored lines before t, then those relayed since
///     ▲                                 │
///     └──── seedFailed(), forget() ─────┘
/// ```
/// Ownership: the hub's, on its event loop.
struct RecentLines {
    /// As many lines as `/history` and `--history-on-join` may ask for.
    static let capacity = CommandArgument.maximumHistoryCount

    enum State: Equatable {
        case unseeded
        /// The database read was started at this time; lines relayed since wait in the ring.
        case seeding(since: Timestamp)
        case seeded
    }

    private(set) var state = State.unseeded
    /// Oldest first until full; then ``next`` is the oldest and the next to be replaced.
    private var ring: [StoredMessage] = []
    private var next = 0

    init() {}

    /// Adds a line the chat relayed (kept while seeding too: the read may not see it).
    mutating func append(_ message: StoredMessage) {
        if state == .unseeded { return }  // the seed read will bring it, or it was said before the first replay
        if ring.count < Self.capacity {
            ring.append(message)
        } else {
            ring[next] = message
            next = (next + 1) % Self.capacity
        }
    }

    /// The last `count` lines (at most ``capacity``), oldest first.
    func last(_ count: Int) -> [StoredMessage] {
        let wanted = min(max(count, 0), ring.count)
        guard ring.count == Self.capacity else { return Array(ring.suffix(wanted)) }
        return (0..<wanted).map { ring[(next + ring.count - wanted + $0) % ring.count] }
    }

    /// A seed read is started now (`at`); lines appended from here on are kept.
    mutating func beginSeeding(at time: Timestamp) {
        ring = []
        next = 0
        state = .seeding(since: time)
    }

    /// The seed read's lines (oldest first) go before those relayed since it started; a line it already saw
    /// (dated at or after the start) was relayed, and is kept once, in relay order.
    /// `startedAt` is the time ``beginSeeding(at:)`` was given: an answer to an earlier read (the lines were
    /// forgotten since, ``forget()``) is ignored.
    mutating func seed(_ stored: [StoredMessage], startedAt: Timestamp) {
        guard state == .seeding(since: startedAt) else { return }
        let relayed = last(ring.count)
        ring = []
        next = 0
        state = .seeded
        for message in stored where message.sentAt < startedAt { append(message) }
        for message in relayed { append(message) }
    }

    /// The seed read started at `startedAt` failed: what was gathered is forgotten; the next replay tries again.
    mutating func seedFailed(startedAt: Timestamp) {
        guard state == .seeding(since: startedAt) else { return }
        forget()
    }

    /// Back to unseeded: the next replay reads the database again (the link to the other servers was down,
    /// and what they said meanwhile is only there).
    mutating func forget() {
        ring = []
        next = 0
        state = .unseeded
    }
}

@available(*, unavailable)
extension RecentLines: Sendable {}
