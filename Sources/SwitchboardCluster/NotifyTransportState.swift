import NIOCore
import SwitchboardHistory

/// The bookkeeping of a ``NotifyTransport`` as a pure state machine: the contact (both connections up, or not),
/// the inbox the chat layer drains and the outbox the notify thread sends. Inputs are the link threads'
/// reports and the caller's calls; outputs are return values saying whom to wake and what to log.
///
/// ```
/// contact      starting ──both ready──▶ up ──a live connection fails──▶ down ──both ready──▶ up …
///                 └──a connect fails──▶ down                              (generation += 1 on every loss)
///              any ──stop()──▶ stopped
///
/// inbox        [.connected, .payload("a"), .payload("b"), .dropped(3), .disconnected("…"), …]
///              (``ClusterTransportEvent``s, handed over as they are)
///              ≤ maximumInbox payloads and ≤ maximumInboxBytes of them (a larger payload only into an empty
///              inbox, so one always fits); further ones only count in a trailing .dropped(n).
///              Payloads are taken only while up, so they sit between a .connected and a .disconnected.
///              A .connected followed (dropped counts aside) by a .disconnected cancels out: the consumer
///              sees one longer outage, and between two payloads there are at most two connection entries.
///
/// outbox       publish ─▶ [p1, p2, p3, …] ≤ maximumOutbox, ≤ outbox.maximumBytes ─▶ takeBatch: ≤ maximumBatchCount
///              payloads, ≤ maximumBatchBytes, and ≤ the send rate's tokens (a bucket of sendRate.burst bytes
///              refilled at sendRate.bytesPerSecond; short of them the notify thread waits until they are
///              there; a payload larger than the bucket waits for a full one and leaves it in debt). A payload
///              larger than the outbox's bound is taken into an empty outbox. Emptied when contact is lost.
///              The notify thread then cuts the batch into statements (``nextStatement(_:)``): NOTIFYs up to a
///              payload byte-equal to an earlier one (PostgreSQL delivers identical payloads of one
///              transaction once), and each large payload alone, through the table; outside the lock.
///
/// backlog      bytes waiting ≥ outbox.highWater ─▶ backlogged (publish says so) ─▶ bytes ≤ outbox.lowWater
///              ─▶ not backlogged, and the consumer is woken (the publisher's producers may go on)
/// ```
///
/// Everything here runs under the link's lock, which `publish` and `takeInbox` take on an event loop, so each
/// input is O(1) or a plain copy of what it moves; hashing and building events happen outside.
///
/// The generation numbers contacts: a thread that connected in generation g stays only while the
/// generation is g, so a loss seen by either thread closes both connections.
///
/// Owned by ``NotifyTransport``, which holds it under its condition lock; not thread-safe itself.
struct NotifyTransportState {
    enum Role: Sendable { case listener, notifier }

    enum Phase: Equatable, Sendable {
        /// Never in contact yet, and no failure yet.
        case starting
        /// Both connections are up in the current generation and LISTEN is active.
        case up
        /// Out of contact; `.disconnected` has been queued for this outage.
        case down
        /// ``NotifyTransport/shutdown()`` was called.
        case stopped
    }

    /// Why ``publish(_:)`` did or did not queue a payload.
    enum PublishOutcome: Equatable {
        /// Queued; `wakeNotifier` when the outbox was empty (the notify thread may be waiting); `backlogged`
        /// while the bytes waiting are past the high-water mark (and not yet back under the low one).
        case queued(wakeNotifier: Bool, backlogged: Bool = false)
        case notInContact
        /// The outbox is full; `firstInEpisode` for the first refusal since the outbox last drained.
        case outboxFull(firstInEpisode: Bool)
    }

    /// What a thread's report changed, for the caller to act on outside the lock.
    struct Transition: Equatable {
        /// The inbox went from empty to non-empty: call the consumer's wake callback.
        var wakeConsumer = false
        /// The generation changed or the link stopped: wake the threads waiting on the condition.
        var wakeThreads = false
        /// Contact was established: for the first time, or after an outage (a failure before any contact
        /// counts as one).
        var contactUp: ContactUp?
        /// An outage began (log it once).
        var outageBegan = false
        /// Payloads accepted by publish and discarded unsent because contact was lost.
        var discardedUnsent = 0

        enum ContactUp: Equatable { case first, afterOutage }
    }

    /// What the notify thread should do next.
    enum NotifierStep: Equatable {
        /// Send these; `wakeConsumer` when taking them ended a backlog (the bytes waiting fell to the low-water
        /// mark): the consumer is told, so that it lets its producers go on.
        case send([String], wakeConsumer: Bool = false)
        /// Nothing to send: wait for a publish.
        case wait
        /// Something to send but not the send rate's tokens for it: wait until then (or a stop).
        case waitUntil(NIODeadline)
        /// The generation it connected in is over, or the link stopped: close the connection.
        case leave
    }

    /// The outbox's bounds in bytes: publish refuses past `maximumBytes`; past `highWater` the link is
    /// backlogged until the bytes waiting are down to `lowWater`.
    struct OutboxBytes: Equatable, Sendable {
        var maximumBytes: Int
        var highWater: Int
        var lowWater: Int

        /// No bound.
        static let unbounded = OutboxBytes(maximumBytes: .max, highWater: .max, lowWater: .max)
    }

    /// What the notify thread may send: a token bucket of `burst` bytes refilled at `bytesPerSecond`. `burst`
    /// must hold the largest payload, or that payload would wait forever.
    struct SendRate: Equatable, Sendable {
        var bytesPerSecond: Int
        var burst: Int

        /// No limit.
        static let unlimited = SendRate(bytesPerSecond: .max, burst: .max)
    }

    let maximumInbox: Int
    let maximumInboxBytes: Int
    let maximumOutbox: Int
    let outboxBytes: OutboxBytes
    let sendRate: SendRate
    let maximumBatchCount: Int
    let maximumBatchBytes: Int

    private(set) var phase = Phase.starting
    private(set) var generation = 0
    private var listenerReady = false
    private var notifierReady = false

    private var inbox: [ClusterTransportEvent] = []
    private var inboxPayloadCount = 0
    private var inboxPayloadBytes = 0
    // The outbox (internal for `NotifyTransportState+Outbox.swift`; written only by this type's methods).
    var outbox = CircularBuffer<String>()
    /// The UTF-8 bytes of the payloads in ``outbox``.
    var outboxByteCount = 0
    var outboxFullEpisode = false
    /// The bytes waiting went past the high-water mark and have not yet come down to the low one.
    var isBacklogged = false
    /// The send rate's bucket: bytes that may be sent now, as of ``tokensAt``.
    var tokens: Double
    var tokensAt: NIODeadline?

    var statistics = NotifyTransport.Statistics()

    init(
        maximumInbox: Int, maximumOutbox: Int, maximumBatchCount: Int, maximumBatchBytes: Int,
        maximumInboxBytes: Int = .max, outboxBytes: OutboxBytes = .unbounded, sendRate: SendRate = .unlimited
    ) {
        precondition(maximumInbox > 0 && maximumOutbox > 0 && maximumBatchCount > 0 && maximumBatchBytes > 0)
        precondition(maximumInboxBytes > 0 && sendRate.bytesPerSecond > 0 && sendRate.burst > 0)
        precondition(outboxBytes.lowWater <= outboxBytes.highWater && outboxBytes.highWater <= outboxBytes.maximumBytes)
        self.maximumInbox = maximumInbox
        self.maximumInboxBytes = maximumInboxBytes
        self.maximumOutbox = maximumOutbox
        self.outboxBytes = outboxBytes
        self.sendRate = sendRate
        self.maximumBatchCount = maximumBatchCount
        self.maximumBatchBytes = maximumBatchBytes
        self.tokens = Double(sendRate.burst)
    }

    // MARK: - Contact

    /// Whether a thread that connected in `generation` should give up its connection.
    func isOver(_ generation: Int) -> Bool {
        phase == .stopped || generation != self.generation
    }

    /// A thread's connection is ready in `generation` (the listener's after LISTEN succeeded).
    mutating func ready(_ role: Role, generation: Int) -> Transition {
        guard !isOver(generation) else { return Transition() }
        switch role {
        case .listener: listenerReady = true
        case .notifier: notifierReady = true
        }
        guard listenerReady && notifierReady && phase != .up else { return Transition() }
        var transition = Transition()
        transition.contactUp = phase == .down ? .afterOutage : .first
        phase = .up
        transition.wakeConsumer = append(.connected)
        return transition
    }

    /// A thread's connection failed in `generation`: `established` when it had been working (a loss of contact,
    /// which ends the generation and so closes the other connection too), `false` when connecting failed.
    mutating func failed(_ role: Role, generation: Int, message: String, established: Bool) -> Transition {
        guard !isOver(generation) else { return Transition() }
        var transition = Transition()
        if !established { statistics.failedAttempts += 1 }
        if established {
            self.generation += 1
            listenerReady = false
            notifierReady = false
            transition.wakeThreads = true
            transition.discardedUnsent = outbox.count
            statistics.unsent += outbox.count
            emptyOutbox()
        }
        if phase == .starting || phase == .up {
            phase = .down
            statistics.outages += 1
            transition.outageBegan = true
            transition.wakeConsumer = appendDisconnected(message)
        }
        return transition
    }

    /// ``NotifyTransport/shutdown()``: no more events, publishes or sends.
    mutating func stop() -> Transition {
        guard phase != .stopped else { return Transition() }
        phase = .stopped
        statistics.unsent += outbox.count
        emptyOutbox()
        return Transition(wakeThreads: true)
    }

    // MARK: - Inbox

    /// Payloads the listener received in `generation`; kept only while in contact in that generation.
    mutating func received(_ payloads: [String], generation: Int) -> Transition {
        guard phase == .up, generation == self.generation, !payloads.isEmpty else { return Transition() }
        let wasEmpty = inbox.isEmpty
        // In order: once one does not fit (by count or by bytes), neither does anything after it.
        var kept = 0
        for payload in payloads {
            let size = payload.utf8.count
            // A payload larger than the byte bound goes into an empty inbox: one always fits.
            guard inboxPayloadCount < maximumInbox,
                size <= maximumInboxBytes - inboxPayloadBytes || inboxPayloadCount == 0
            else { break }
            inbox.append(.payload(payload))
            inboxPayloadCount += 1
            inboxPayloadBytes += size
            kept += 1
        }
        statistics.received += kept
        if kept < payloads.count { addDropped(payloads.count - kept) }
        return Transition(wakeConsumer: wasEmpty)
    }

    /// Everything in the inbox, oldest first; empties it.
    mutating func takeInbox() -> [ClusterTransportEvent] {
        guard !inbox.isEmpty else { return [] }
        inboxPayloadCount = 0
        inboxPayloadBytes = 0
        defer { inbox = [] }
        return inbox
    }

    /// A large payload the listener could not read back from the table (another reader's sweep took it, or it
    /// was never there): counted and reported as dropped, in its place.
    mutating func missed(_ count: Int, generation: Int) -> Transition {
        guard phase == .up, generation == self.generation, count > 0 else { return Transition() }
        let wasEmpty = inbox.isEmpty
        addDropped(count)
        return Transition(wakeConsumer: wasEmpty)
    }

    /// Appends a connection entry; `true` when the inbox was empty.
    private mutating func append(_ entry: ClusterTransportEvent) -> Bool {
        let wasEmpty = inbox.isEmpty
        inbox.append(entry)
        return wasEmpty
    }

    /// Appends `.disconnected`, unless the last entry that is not a drop count is a `.connected` the consumer
    /// has not taken: then that `.connected` goes and the consumer sees the earlier outage go on.
    private mutating func appendDisconnected(_ message: String) -> Bool {
        var index = inbox.count - 1
        while index >= 0, case .dropped = inbox[index] { index -= 1 }
        guard index >= 0, inbox[index] == .connected else { return append(.disconnected(message)) }
        inbox.remove(at: index)
        // Drop counts that now touch merge into one.
        if index > 0, index < inbox.count, case .dropped(let before) = inbox[index - 1],
            case .dropped(let after) = inbox[index]
        {
            inbox[index - 1] = .dropped(before + after)
            inbox.remove(at: index)
        }
        return false
    }

    private mutating func addDropped(_ count: Int) {
        statistics.dropped += count
        if case .dropped(let earlier) = inbox.last {
            inbox[inbox.count - 1] = .dropped(earlier + count)
        } else {
            inbox.append(.dropped(count))
        }
    }
}
