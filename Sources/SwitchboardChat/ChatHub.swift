import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardProtocol
import SwitchboardDatabase
import SwitchboardHistory

/// Twisted's `Factory` for the chat: tracks every client, owns nicknames and counters, fans lines out.
///
/// Ownership: all state lives on ``eventLoop``, the single loop every client channel is registered on, so
/// no locks are needed and a chat line never hops threads. Every method must be called on that loop.
///
/// A broadcast encodes its line once, into the tick's shared buffer (``TickLines``), and records its range in
/// each recipient's output without flushing; recipients are marked dirty and flushed once per event loop
/// tick (one task that runs after every socket the tick found readable has been read). So the lines of every
/// sender read in one tick, and every join or leave announced in it, cost one `writev` per recipient (of
/// slices of that one buffer), not one write per line per recipient — on loopback each write syscall also
/// runs the receiver's TCP path, so this is the main cost of fan-out.
///
/// The rules that keep a hostile client from crashing or stalling the server (README, "Hostile load"):
/// - Nothing inside a fan-out flushes or closes a channel. Flushes and closes wait for the end-of-tick
///   task (``TickScheduler``), which works through lists, so a mass leave is iteration, never recursion.
/// - Work per tick is bounded: every line queued for a client is charged to a fan-out budget
///   (``ChatConfiguration/fanOutBytesPerTick``); a session that finds it spent parks and is resumed after
///   the flush, once the loop has served I/O and timers.
/// - Join and leave notices above ``ChatConfiguration/noticeRate`` a second are batched into one line a
///   second (`* 37 joined, 12 left (10025 clients connected)`), so a mass join or leave costs O(N) lines,
///   not N²/2.
public final class ChatHub {
    public let eventLoop: any EventLoop
    /// The limits and rates in force; ``reconfigure(_:)`` changes them while running (SIGHUP).
    public private(set) var configuration: ChatConfiguration
    let history: any ChatHistory
    let logger: Logger

    /// Who is here and the rules for it (admission, names, counts): a value this hub owns.
    var roster: Roster
    /// Local clients admitted or joined, by id: all the hub knows of them is ``ChatClient``.
    var sessions: [ConnectionKey: any ChatClient] = [:]
    /// Joined local clients, in fan-out order (swap-remove on leave; ``memberSlots`` knows each index).
    var members: [JoinedClient] = []
    var memberSlots: [ConnectionKey: Int] = [:]
    /// Visitor numbers reserved from the database, so a welcome needs no round trip.
    let visitors: VisitorNumberReservation

    /// The end of the tick: flushes, closes, the tick's shared lines, the fan-out budget, parked workers.
    let tick: TickScheduler

    // Join/leave notices: named below the rate, batched above it.
    private var notices: NoticeThrottle
    private var batchTimer: Scheduled<Void>?

    private var idleSweep: Scheduled<Void>?
    /// Cluster mode (several servers on one PostgreSQL database): the other servers, once started.
    var cluster: ChatCluster?
    /// Operators, bans, mutes, the MOTD (see ChatHub+Moderation.swift).
    var moderation = ModerationState()
    /// Where moderation is stored, once started (``startModeration(store:)``); without one, operator
    /// commands say moderation is unavailable.
    var moderationStore: (any ChatModerationStore)?
    /// Away, ignore and bell settings of this server's clients (see ChatHub+Preferences.swift).
    var preferences = ClientPreferences()
    /// Accepted connections ever (from the database at start-up, then counted here — in a cluster, the other
    /// servers' joins too, and their count from the database again at every heartbeat): `/count`'s total.
    public var totalVisits: Int64 { roster.totalVisits }
    /// How many of the other servers' visits this hub has heard of, ever: read by the heartbeat thread just
    /// before it reads the database's count (``visitsElsewhereCounted(_:tallyAtRead:)``), so what was heard
    /// since is added on top. Written on the loop only.
    let visitsHeardTally = NIOLockedValueBox<Int64>(0)
    /// Connections whose command the hub is deciding (a `/nick` the database decides, in cluster mode): their
    /// further input waits, so a client's commands take effect in the order it sent them.
    var deciding: Set<ConnectionKey> = []
    /// Whether the hub is deciding a command of `id`'s (see ``deciding``).
    func isDeciding(for id: ConnectionKey) -> Bool { !deciding.isEmpty && deciding.contains(id) }
    /// Set once shutdown begins: no new clients, no leave notices.
    public private(set) var isShuttingDown = false

    /// Back-pressure from what consumes chat lines (history, the other servers) to the clients saying them.
    let gate: ProducerGate
    /// The last public lines, for a newcomer's replay without a database read (see ChatHub+Moderation.swift).
    var recentLines = RecentLines()
    /// The read that seeds ``recentLines``, while it is on its way.
    var recentLinesRead: EventLoopFuture<Void>?
    /// Connections told their lines are not being saved (told once each).
    var toldNotSaved: Set<ConnectionKey> = []

    /// Creates a hub on `eventLoop`. `totalVisits` seeds `/count` (read from the database at start-up).
    public init(
        eventLoop: any EventLoop, history: any ChatHistory, configuration: ChatConfiguration = ChatConfiguration(),
        totalVisits: Int64 = 0, logger: Logger
    ) {
        self.eventLoop = eventLoop
        self.history = history
        self.configuration = configuration
        self.roster = Roster(
            maximumMembers: configuration.maximumClients, maximumPerAddress: configuration.maximumClientsPerAddress,
            totalVisits: totalVisits)
        self.visitors = VisitorNumberReservation(
            eventLoop: eventLoop, history: history, blockSize: configuration.visitorNumberBlock, logger: logger)
        self.logger = logger
        self.notices = NoticeThrottle(now: eventLoop.now)
        self.gate = ProducerGate(eventLoop: eventLoop)
        self.tick = TickScheduler(eventLoop: eventLoop, budget: configuration.fanOutBytesPerTick)
        history.delegate = self
        // The cluster sends what each tick queued for the other servers before the tick's flushes.
        tick.beforeFlush = { [unowned self] in
            if let cluster = self.cluster, cluster.hasOutgoing { cluster.flush() }
        }
        scheduleIdleSweep()
        visitors.refillIfNeeded()
    }

    /// Clients in the room (welcomed), on every server of the cluster: the count every notice and `/count`
    /// shows.
    public var connectedCount: Int { roster.joinedCount }

    /// What the chat has done, for the metrics; sessions add to it too.
    public internal(set) var counters = ChatCounters()

    /// ``counters`` with ``ChatCounters/connected`` filled in: this server's joined clients by transport.
    public func countersNow() -> ChatCounters {
        var now = counters
        now.sendQueueDisconnects = tick.sendQueueDisconnects
        for member in members { now.connected[member.client.transport.name, default: 0] += 1 }
        return now
    }

    /// Takes new limits and rates while running (SIGHUP): `--max-clients` and `--max-per-ip` apply to the next
    /// arrivals (no one is closed for being over a lowered limit), flood control and `--notice-rate` to the
    /// next line and notice, `--idle-timeout` from the next sweep, `--max-line` to new connections (each
    /// session keeps the limit it started with). Values fixed at start (the visitor-number block, the send
    /// queue a connection was given) are the caller's to leave alone.
    public func reconfigure(_ new: ChatConfiguration) {
        eventLoop.preconditionInEventLoop()
        let idleChanged = new.idleTimeout != configuration.idleTimeout
        configuration = new
        renewFanOutBudget()
        roster.maximumMembers = new.maximumClients
        roster.maximumPerAddress = new.maximumClientsPerAddress
        if idleChanged {
            idleSweep?.cancel()
            idleSweep = nil
            scheduleIdleSweep()
        }
    }

    /// The most of this server's own connections at once since ``takeSessionPeak()`` was last called.
    var sessionPeak = 0

    /// The most of this server's own connections at once since the last call, and how many there are now.
    func takeSessionPeak() -> (peak: Int, now: Int) {
        defer { sessionPeak = sessions.count }
        return (max(sessionPeak, sessions.count), sessions.count)
    }

    /// Checks for idle clients four times per timeout period (at most ten times a second).
    private func scheduleIdleSweep() {
        guard configuration.idleTimeout > .zero, !isShuttingDown else { return }
        let interval = TimeAmount.nanoseconds(max(configuration.idleTimeout.nanoseconds / 4, 100_000_000))
        idleSweep = eventLoop.assumeIsolated().scheduleTask(in: interval) {
            self.closeIdleSessions()
            self.scheduleIdleSweep()
        }
    }

    // MARK: - Notice batching

    /// Whether a join or leave may be announced by name now; if not, it is counted for the next batched line
    /// (see ``NoticeThrottle``).
    func takeNamedNotice(joined: Bool) -> Bool {
        switch notices.notice(joined: joined, rate: configuration.noticeRate, now: eventLoop.now) {
        case .named:
            return true
        case .counted(let startTimer):
            if startTimer { scheduleBatchedNotice() }
            return false
        }
    }

    private func scheduleBatchedNotice() {
        batchTimer = eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { self.announceBatch() }
    }

    /// The batched line for the last second; batching goes on while the storm lasts.
    private func announceBatch() {
        batchTimer = nil
        guard !isShuttingDown else { return }
        let (batch, continues) = notices.timerFired(rate: configuration.noticeRate, now: eventLoop.now)
        if let batch {
            broadcast(ChatText.batchedNotice(joined: batch.joined, left: batch.left, connected: connectedCount), except: nil)
        }
        if continues { scheduleBatchedNotice() }
    }

    // MARK: - Chat

    /// Sends `text` (one line, without CRLF) to every joined client except `sender`. Never flushes. The line
    /// is encoded once, into the tick's lines (``TickScheduler``); each recipient's output records where it is.
    func broadcast(_ text: String, except sender: (any ChatClient)?) {
        let range = tick.append(text)
        let lines = tick.lines
        let skip = sender.map(ObjectIdentifier.init)
        for member in members where ObjectIdentifier(member.client) != skip {
            if member.deliver(range, of: lines) { tick.markDirty(member.client) }
        }
        tick.charge(range.count * members.count)
        counters.deliveries += Int64(max(0, members.count - (skip == nil ? 0 : 1)))
    }

    /// Flushes and closes what this tick left now (see ``TickScheduler/flushAndClose()``).
    public func flushAndClose() { tick.flushAndClose() }

    // MARK: - Back-pressure

    /// What consumes chat lines after the fan-out and can fall behind it.
    public enum BehindSource: Hashable, Sendable {
        /// The history writer's queue (the database is up but slower than the chat).
        case history
        /// The other servers (this server's share of what may cross to them).
        case cluster
    }

    /// Whether some consumer of chat lines is behind: clients who say lines are being held back.
    public var isBehind: Bool { gate.isBehind }

    /// `source` fell behind (`true`) or caught up (`false`); see ``ProducerGate``.
    public func setBehind(_ source: BehindSource, _ behind: Bool) {
        eventLoop.preconditionInEventLoop()
        gate.setBehind(source, behind)
    }

    // MARK: - Limits and shutdown

    private func closeIdleSessions() {
        let cutoff = eventLoop.now - configuration.idleTimeout
        for session in sessions.values where session.lastActivity < cutoff {
            session.send(ChatText.idleTimeout)
            session.close(reason: "idle timeout")
        }
    }

    /// Tells every client the server is going down, closes them (recorded as `server shutdown`), and
    /// completes when all are closed.
    public func shutdown() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        isShuttingDown = true
        roster.isClosed = true
        idleSweep?.cancel()
        idleSweep = nil
        batchTimer?.cancel()
        batchTimer = nil
        moderation.pollTimer?.cancel()
        moderation.pollTimer = nil
        let everyone = Array(sessions.values)
        for session in everyone { session.send(ChatText.shuttingDown) }
        var futures = everyone.map { $0.close(reason: "server shutdown") }
        futures.append(visitors.stop())
        return EventLoopFuture.andAllComplete(futures, on: eventLoop)
    }
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension ChatHub: Sendable {}
