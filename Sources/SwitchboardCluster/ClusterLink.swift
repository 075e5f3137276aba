import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SwitchboardDatabase
import SwitchboardHistory

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The transport of cluster mode: servers sharing one PostgreSQL database exchange opaque text payloads over
/// LISTEN/NOTIFY on one channel. Entirely off the event loops, bounded in memory, reconnecting by itself.
///
/// ```
///  publish(p) ──▶ outbox (≤ maximumOutbox, ≤ maximumOutboxBytes) ──▶ notify thread, ≤ sendRate bytes/s ──▶
///                  SELECT pg_notify($1, $2), pg_notify($1, $3), …
///                  (one statement = one transaction = one commit lock per batch)
///
///  PostgreSQL ──▶ listen thread: LISTEN "channel"; poll(socket) → PQconsumeInput → PQnotifies
///                   └──▶ inbox (≤ maximumInbox payloads, ≤ maximumInboxBytes, the rest counted as dropped)
///                          └── went from empty to non-empty? ──▶ wake()  ──▶ caller: takeInbox() → [Event]
/// ```
///
/// **Wake once, drain all.** The listen thread never hands events to the caller; it appends them to a
/// locked inbox and calls the `wake` closure given to ``start(_:)`` only when the inbox goes from empty to
/// non-empty. The caller then takes everything with ``takeInbox()``, typically
/// `loop.execute { handle(link.takeInbox()) }`. Until it does, further arrivals only queue, so a slow event
/// loop costs one pending task, not one per payload; once ``maximumInbox`` payloads (or
/// ``maximumInboxBytes`` of them) wait, further ones are counted and reported as `.dropped(n)` in their place. Connection events travel through the same inbox, so
/// they stay in order with the payloads.
///
/// **Pacing and backlog.** The notify thread sends at most ``sendRate`` payload bytes a second, so one
/// server's flood cannot reach the others faster than that. What waits is bounded (``maximumOutboxBytes``, one
/// second of sending); past a quarter of it the link is ``isBacklogged`` — the publisher should stop its
/// producers — until it is down to a sixteenth, when `wake` is called so the publisher can look again.
///
/// **Contact.** The two connections (listen and notify) are one unit: when either breaks — the server
/// stopped, the backend was terminated, a statement got no answer within 10 s — ``Event/disconnected(_:)``
/// is queued once for the outage, both connections are closed, and both threads reconnect (100 ms, then
/// doubling to 2 s between failed attempts) until LISTEN is active again, when ``Event/connected`` is queued.
/// Payloads are taken only while in contact: whatever arrives outside a `.connected` … `.disconnected`
/// window (and whatever was queued for sending when contact was lost) is gone, and the caller re-syncs on
/// `.connected`. An idle listen connection is pinged (`SELECT 1`) every 10 s so that a silent network is
/// noticed.
///
/// **Payloads** are at most ``maximumPayloadBytes`` (7999) bytes of UTF-8 without NUL — PostgreSQL refuses
/// 8000 — and are delivered to every link listening on the channel, the sender included, in the order one
/// link published them; in fact every link sees every payload in the same order, PostgreSQL's commit order
/// (its notification queue is one queue). Identical payloads published close together are still delivered
/// once each: PostgreSQL folds identical notifications within one transaction, so a batch is cut before a
/// repeat.
///
/// The database's encoding should be UTF8 (or SQL_ASCII): in another encoding a payload the server cannot
/// convert fails its batch, which is then logged and counted in ``Statistics/unsent``.
///
/// Thread ownership: each connection is opened, used and closed by its own thread of ``threads`` (a
/// two-thread `NIOThreadPool`, not an event loop). All other state lives in ``Shared`` under its lock.
/// Every public method may be called from any thread; ``shutdown()`` waits for the threads.
public final class ClusterLink: Sendable {
    /// What the link tells its consumer, in order, through ``takeInbox()``.
    public enum Event: Sendable, Equatable {
        /// LISTEN is active (the first time and after every reconnect): payloads published from now on are
        /// delivered. Re-sync here.
        case connected
        /// Contact lost (or, before the first `.connected`, not made); the message names no password. Queued
        /// once per outage, however many reconnection attempts fail.
        case disconnected(String)
        /// Payloads received on the channel, oldest first; the link's own included (the caller drops them).
        case payloads([String])
        /// This many received payloads were discarded because the inbox was full.
        case dropped(Int)
    }

    /// Why ``publish(_:)`` refused a payload outright.
    public enum PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
        /// More than ``ClusterLink/maximumPayloadBytes`` bytes of UTF-8.
        case tooLong(bytes: Int)
        /// PostgreSQL text cannot hold NUL.
        case containsNUL

        public var description: String {
            switch self {
            case .tooLong(let bytes):
                "a cluster payload of \(bytes) bytes is over the limit of \(ClusterLink.maximumPayloadBytes)"
            case .containsNUL:
                "a cluster payload contains a NUL character"
            }
        }
    }

    /// Counters since ``init``, for operators and benchmarks.
    public struct Statistics: Sendable, Equatable {
        /// Payloads ``publish(_:)`` queued.
        public var queued = 0
        /// Payloads ``publish(_:)`` refused: out of contact, or the outbox was full.
        public var refused = 0
        /// Payloads the server confirmed (their NOTIFY committed).
        public var sent = 0
        /// Statements that sent them (``sent`` / ``batches`` is the mean batch size).
        public var batches = 0
        /// Payloads queued but not sent: discarded when contact was lost or the link stopped, or refused by
        /// the server with their batch. A batch on the wire when contact is lost counts nowhere.
        public var unsent = 0
        /// Payloads put in the inbox.
        public var received = 0
        /// Payloads received while the inbox was full, and discarded.
        public var dropped = 0
        /// Times contact was lost (or could not be made at first).
        public var outages = 0
        /// Connection attempts (connect, or LISTEN) that failed.
        public var failedAttempts = 0
        /// Times the bytes waiting to be sent went past the outbox's high-water mark (``isBacklogged``).
        public var backlogs = 0

        public init() {}
    }

    /// The largest payload PostgreSQL's NOTIFY takes, in bytes (its limit is "less than 8000").
    public static let maximumPayloadBytes = 7999
    /// The default bound on the bytes of received payloads waiting in the inbox (8 MiB).
    public static let defaultMaximumInboxBytes = 8 * 1024 * 1024
    /// The default send rate, in payload bytes a second (4 MiB/s).
    public static let defaultSendRate = 4 * 1024 * 1024
    /// The smallest send rate: one largest payload a second.
    public static let minimumSendRate = maximumPayloadBytes

    /// The NOTIFY channel.
    public let channel: String
    /// How many received payloads may wait in the inbox before further ones are dropped.
    public let maximumInbox: Int
    /// How many bytes of received payloads may wait in the inbox before further ones are dropped.
    public let maximumInboxBytes: Int
    /// How many published payloads may wait to be sent before ``publish(_:)`` refuses.
    public let maximumOutbox: Int
    /// At most this many payload bytes are sent a second (a token bucket holding a quarter of a second's
    /// worth, at least one largest payload).
    public let sendRate: Int
    /// How many bytes of published payloads may wait to be sent before ``publish(_:)`` refuses: one second
    /// at ``sendRate`` (at least four largest payloads). Past a quarter of it the link is backlogged
    /// (``isBacklogged``) until a sixteenth is left.
    public var maximumOutboxBytes: Int { ClusterLink.outboxBytes(sendRate: sendRate).maximumBytes }

    /// The outbox's bounds in bytes for `sendRate`: one second of sending; backlogged from a quarter of
    /// that down to a sixteenth.
    static func outboxBytes(sendRate: Int) -> ClusterLinkState.OutboxBytes {
        let maximum = max(sendRate, 4 * maximumPayloadBytes)
        return ClusterLinkState.OutboxBytes(maximumBytes: maximum, highWater: maximum / 4, lowWater: maximum / 16)
    }

    /// The bucket for `sendRate`: a quarter of a second's worth, at least one largest payload.
    static func bucket(sendRate: Int) -> ClusterLinkState.SendRate {
        ClusterLinkState.SendRate(bytesPerSecond: sendRate, burst: max(sendRate / 4, maximumPayloadBytes))
    }

    private let shared: Shared
    private let threads = NIOThreadPool(numberOfThreads: 2)
    private let lifecycle = NIOLockedValueBox(Lifecycle.idle)

    private enum Lifecycle {
        case idle
        case running
        case stopping(waiters: [CheckedContinuation<Void, Never>])
        case stopped
    }

    /// Creates a link for the database `parameters` name; nothing connects before ``start(_:)``.
    ///
    /// - Parameters:
    ///   - channel: the NOTIFY channel, 1 to 63 bytes without NUL (case matters).
    ///   - maximumInbox: received payloads that may wait for ``takeInbox()`` (at least 1).
    ///   - maximumInboxBytes: their bytes (at least ``maximumPayloadBytes``).
    ///   - maximumOutbox: published payloads that may wait to be sent (at least 1).
    ///   - sendRate: payload bytes sent a second, at most (at least ``minimumSendRate``); it also sizes the
    ///     outbox in bytes (``maximumOutboxBytes``).
    public init(
        parameters: PostgresConnectionParameters, channel: String = "switchboard", maximumInbox: Int = 10_000,
        maximumInboxBytes: Int = ClusterLink.defaultMaximumInboxBytes, maximumOutbox: Int = 10_000,
        sendRate: Int = ClusterLink.defaultSendRate, logger: Logger
    ) {
        precondition(
            !channel.isEmpty && channel.utf8.count <= 63 && !channel.utf8.contains(0),
            "a NOTIFY channel is 1 to 63 bytes without NUL")
        precondition(
            maximumInbox > 0 && maximumOutbox > 0 && maximumInboxBytes >= ClusterLink.maximumPayloadBytes,
            "the inbox and the outbox need room for a payload")
        precondition(sendRate >= ClusterLink.minimumSendRate, "the send rate must allow a payload a second")
        self.channel = channel
        self.maximumInbox = maximumInbox
        self.maximumInboxBytes = maximumInboxBytes
        self.maximumOutbox = maximumOutbox
        self.sendRate = sendRate
        self.shared = Shared(
            parameters: parameters, channel: channel, logger: logger,
            state: ClusterLinkState(
                maximumInbox: maximumInbox, maximumOutbox: maximumOutbox, maximumBatchCount: Shared.maximumBatchCount,
                maximumBatchBytes: Shared.maximumBatchBytes, maximumInboxBytes: maximumInboxBytes,
                outboxBytes: ClusterLink.outboxBytes(sendRate: sendRate), sendRate: ClusterLink.bucket(sendRate: sendRate)))
    }

    deinit {
        // Never shut down: stop the threads anyway (they hold `shared`, not the link) and let NIO join them.
        let shutDown = lifecycle.withLockedValue { state -> Bool in
            if case .stopped = state { return true }
            return false
        }
        if !shutDown {
            shared.stop()
            threads.shutdownGracefully { _ in }
        }
    }

    /// Starts the listen and notify threads, which connect at once. Call it once.
    ///
    /// `wake` is called on a link thread each time the inbox goes from empty to non-empty; it must be cheap
    /// and must not block — schedule ``takeInbox()`` on the consumer's event loop. It may call ``takeInbox()``
    /// itself. It is never called after ``shutdown()`` has returned.
    public func start(_ wake: @escaping @Sendable () -> Void) {
        let shared = self.shared
        let threads = self.threads
        // Under the lifecycle lock, so that a concurrent shutdown() finds the threads either not started or
        // started with their work.
        lifecycle.withLockedValue { state in
            switch state {
            case .idle:
                state = .running
            case .running:
                preconditionFailure("ClusterLink started twice")
            case .stopping, .stopped:
                return  // shut down before it started: it stays stopped
            }
            shared.setWake(wake)
            threads.start()
            threads.submit { state in
                guard state == .active else { return }
                shared.runListener()
            }
            threads.submit { state in
                guard state == .active else { return }
                shared.runNotifier()
            }
        }
    }

    /// Queues `payload` to be sent to every link on the channel (this one included). Never blocks.
    ///
    /// Returns `false`, and sends nothing, while out of contact (the caller re-syncs on `.connected`) or when
    /// ``maximumOutbox`` payloads or ``maximumOutboxBytes`` bytes are already waiting (logged once per
    /// overflow). `true` means queued, not delivered: a payload queued when contact is lost is discarded.
    /// Sending is paced at ``sendRate``; see ``isBacklogged`` for when to stop producing.
    ///
    /// - Throws: ``PayloadError`` for a payload PostgreSQL cannot carry (over 7999 bytes of UTF-8, or NUL);
    ///   nothing is sent.
    @discardableResult
    public func publish(_ payload: String) throws(PayloadError) -> Bool {
        let bytes = payload.utf8.count
        guard bytes <= ClusterLink.maximumPayloadBytes else { throw .tooLong(bytes: bytes) }
        guard !payload.utf8.contains(0) else { throw .containsNUL }
        return shared.publish(payload)
    }

    /// Everything received since the last call, oldest first: `.connected`, `.payloads` (consecutive payloads
    /// in one array), `.dropped`, `.disconnected`. Empty when nothing is waiting (an earlier call took it).
    public func takeInbox() -> [Event] {
        shared.takeInbox()
    }

    /// Whether the bytes waiting to be sent went past a quarter of ``maximumOutboxBytes`` and have not yet
    /// come down to a sixteenth: the publisher should stop producing. When they come down, the `wake` closure
    /// is called (as for the inbox), so the publisher can look again.
    public var isBacklogged: Bool {
        shared.isBacklogged
    }

    /// The counters so far.
    public var statistics: Statistics {
        shared.statistics
    }

    /// Stops both threads and closes both connections, abandoning a statement on the wire and discarding what
    /// waits in the outbox; returns once the threads have exited (within about 100 ms, plus a connection
    /// attempt's own 100 ms slice). Idempotent; concurrent callers all wait for the end.
    public func shutdown() async {
        let first = lifecycle.withLockedValue { state -> Bool in
            switch state {
            case .idle, .running:
                state = .stopping(waiters: [])
                return true
            case .stopping, .stopped:
                return false
            }
        }
        guard first else {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = lifecycle.withLockedValue { state -> Bool in
                    guard case .stopping(var waiters) = state else { return true }
                    waiters.append(continuation)
                    state = .stopping(waiters: waiters)
                    return false
                }
                if done { continuation.resume() }
            }
            return
        }
        shared.stop()
        // Joins the threads; a never-started pool returns at once. It cannot fail for a pool of our own.
        try? await threads.shutdownGracefully()
        let waiters = lifecycle.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            defer { state = .stopped }
            guard case .stopping(let waiters) = state else { return [] }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// How many of the link's threads are inside their loops (0 once ``shutdown()`` has returned).
    var runningThreads: Int { shared.runningThreads }
}

// MARK: - The threads

extension ClusterLink {
    /// The state both threads and the callers share, and the two threads' loops.
    ///
    /// `@unchecked Sendable`: `state`, `wake` and `running` are only read and written with `condition` locked;
    /// the other properties are immutable and Sendable. Each `PostgresConnection` is a local of the thread
    /// loop that opened it and never leaves that thread.
    final class Shared: @unchecked Sendable {
        /// At most this many payloads per statement (PostgreSQL allows 1664 columns in a select list).
        static let maximumBatchCount = 1000
        /// At most this many payload bytes per statement.
        static let maximumBatchBytes = 256 * 1024
        /// A statement (LISTEN, a ping, a batch) that gets no answer within this long means the contact is lost.
        static let answerTimeout = TimeAmount.seconds(10)
        static let noAnswer = "no answer from the server within \(answerTimeout.nanoseconds / 1_000_000_000) s"
        /// The listen connection is pinged after this long without hearing from the server.
        static let pingInterval = TimeAmount.seconds(10)
        /// Threads wait on sockets in slices this long, so they notice a stop or a new generation.
        static let pollSliceMilliseconds: Int32 = 100
        static let firstBackoff = TimeAmount.milliseconds(100)
        static let maximumBackoff = TimeAmount.seconds(2)

        let parameters: PostgresConnectionParameters
        let channel: String
        let logger: Logger
        private let listenSQL: String
        private let condition = NSCondition()
        private var state: ClusterLinkState
        private var wake: (@Sendable () -> Void)?
        private var running = 0

        init(parameters: PostgresConnectionParameters, channel: String, logger: Logger, state: ClusterLinkState) {
            self.parameters = parameters
            self.channel = channel
            self.state = state
            var logger = logger
            logger[metadataKey: "database"] = "\(parameters.redacted)"
            logger[metadataKey: "channel"] = "\(channel)"
            self.logger = logger
            listenSQL = "LISTEN \"" + channel.replacing("\"", with: "\"\"") + "\""
        }

        // MARK: Calls from the link's users

        func setWake(_ wake: @escaping @Sendable () -> Void) {
            locked { _ in self.wake = wake }
        }

        func publish(_ payload: String) -> Bool {
            let outcome = locked { state -> ClusterLinkState.PublishOutcome in
                let outcome = state.publish(payload)
                if case .queued(wakeNotifier: true, _) = outcome { condition.broadcast() }
                return outcome
            }
            switch outcome {
            case .queued: return true
            case .notInContact: return false
            case .outboxFull(let first):
                if first {
                    logger.warning("cluster link outbox full; payloads are refused until it drains")
                }
                return false
            }
        }

        func takeInbox() -> [ClusterLink.Event] {
            ClusterLinkState.events(from: locked { $0.takeInbox() })
        }

        var statistics: ClusterLink.Statistics {
            locked { $0.statistics }
        }

        var isBacklogged: Bool {
            locked { $0.isBacklogged }
        }

        var runningThreads: Int {
            locked { _ in running }
        }

        /// Stops the state (the threads see it) and lets go of the consumer's closure, which may hold whoever
        /// holds the link.
        func stop() {
            report { state in
                wake = nil
                return state.stop()
            }
        }

        // MARK: The listen thread

        func runListener() {
            runConnections(.listener, threadName: "sb-link-listen") { connection, generation, failures in
                var listening = false
                do {
                    try listen(on: connection, generation: generation, listening: &listening)
                    return 0
                } catch {
                    // A LISTEN that fails is a failed attempt (backoff grows); a broken LISTEN is a lost contact.
                    let counted = reportFailure(.listener, generation, error, established: listening)
                    return listening ? 1 : (counted ? failures + 1 : 0)
                }
            }
        }

        /// One thread's life: connects for the current generation (pausing longer after each failure), runs
        /// `session` on the connection, closes it, and again, until the link stops. `session` gets the
        /// failures so far and returns the count to go on with.
        private func runConnections(
            _ role: ClusterLinkState.Role, threadName: String,
            _ session: (PostgresConnection, _ generation: Int, _ failures: Int) -> Int
        ) {
            enter(threadName)
            defer { leave() }
            var failures = 0
            while let generation = currentGeneration() {
                if failures > 0 && !pause(afterFailures: failures) { return }
                let connection: PostgresConnection
                do {
                    connection = try connect(generation)
                } catch {
                    failures = reportFailure(role, generation, error, established: false) ? failures + 1 : 0
                    continue
                }
                failures = session(connection, generation, failures)
                connection.close()
            }
        }

        /// Sends LISTEN, then receives until the connection fails (throws) or its generation ends (returns).
        private func listen(
            on connection: PostgresConnection, generation: Int, listening: inout Bool
        ) throws(DatabaseError) {
            enum Pending {
                case listen
                case ping
            }
            let socket = connection.socket
            try connection.send(listenSQL, textParameters: [])
            var pending: Pending? = .listen
            var deadline = NIODeadline.now() + Shared.answerTimeout
            var flushed = false
            var lastHeard = NIODeadline.now()
            while !isOver(generation) {
                if pending != nil && !flushed { flushed = try connection.flush() }
                let ready = Shared.wait(on: socket, writable: pending != nil && !flushed)
                let now = NIODeadline.now()
                if ready.readable {
                    try connection.consumeInput()
                    lastHeard = now
                }
                if let current = pending {
                    if try connection.statementFinished() {
                        pending = nil
                        if case .listen = current {
                            listening = true
                            report { $0.ready(.listener, generation: generation) }
                        }
                    } else if now > deadline {
                        throw DatabaseError(.connectionLost, message: Shared.noAnswer)
                    }
                }
                let payloads = connection.takeNotifications().compactMap { $0.channel == channel ? $0.payload : nil }
                if !payloads.isEmpty {
                    report { $0.received(payloads, generation: generation) }
                }
                if pending == nil && now - lastHeard > Shared.pingInterval {
                    try connection.send("SELECT 1", textParameters: [])
                    pending = .ping
                    flushed = false
                    deadline = now + Shared.answerTimeout
                    lastHeard = now
                }
            }
        }

        // MARK: The notify thread

        func runNotifier() {
            runConnections(.notifier, threadName: "sb-link-notify") { connection, generation, _ in
                report { $0.ready(.notifier, generation: generation) }
                do {
                    try notify(on: connection, generation: generation)
                    return 0
                } catch {
                    _ = reportFailure(.notifier, generation, error, established: true)
                    return 1
                }
            }
        }

        /// Sends batches until the connection fails (throws) or its generation ends (returns).
        private func notify(on connection: PostgresConnection, generation: Int) throws(DatabaseError) {
            let socket = connection.socket
            // What was taken from the outbox but not sent yet: the part of a batch from a repeated payload on.
            var carried: ArraySlice<String> = []
            defer {
                if !carried.isEmpty { locked { [carried] in $0.discarded(carried.count) } }
            }
            while true {
                let taken: ArraySlice<String>
                if !carried.isEmpty {
                    if isOver(generation) { return }
                    taken = carried
                } else if let batch = nextBatch(generation) {
                    taken = batch[...]
                } else {
                    return
                }
                let (batch, rest) = ClusterLinkState.splitBeforeRepeat(Array(taken))
                carried = rest
                let sql = Shared.notifySQL(count: batch.count)
                try connection.send(sql, textParameters: [channel] + batch)
                let deadline = NIODeadline.now() + Shared.answerTimeout
                var flushed = false
                while true {
                    if !flushed { flushed = try connection.flush() }
                    let ready = Shared.wait(on: socket, writable: !flushed)
                    // A new generation lets the batch finish (other servers still hear it); a stop does not.
                    if isStopped() { return }
                    if ready.readable { try connection.consumeInput() }
                    do {
                        if try connection.statementFinished() {
                            locked { $0.sent(batch.count) }
                            break
                        }
                    } catch where error.kind != .connectionLost && connection.isUsable {
                        logger.warning(
                            "cluster link: the server refused a batch of payloads; they are lost",
                            metadata: ["count": "\(batch.count)", "error": "\(error.message)"])
                        locked { $0.discarded(batch.count) }
                        break
                    }
                    if NIODeadline.now() > deadline {
                        throw DatabaseError(.connectionLost, message: Shared.noAnswer, sql: sql)
                    }
                }
            }
        }

        /// `SELECT pg_notify($1, $2), pg_notify($1, $3), …` for `count` payloads: one statement, so one
        /// transaction and one commit; the select list is evaluated in order, so the notifications are too.
        /// Every such statement is a prefix of the longest one, so it is cut from that.
        static func notifySQL(count: Int) -> String {
            precondition(count >= 1 && count <= maximumBatchCount)
            return String(notifyStatements.sql[..<notifyStatements.ends[count - 1]])
        }

        private static let notifyStatements: (sql: String, ends: [String.Index]) = {
            var sql = "SELECT"
            var ends: [Int] = []
            for parameter in 2..<(maximumBatchCount + 2) {
                sql += (parameter == 2 ? " " : ", ") + "pg_notify($1, $\(parameter))"
                ends.append(sql.utf8.count)
            }
            return (sql, ends.map { sql.utf8.index(sql.utf8.startIndex, offsetBy: $0) })
        }()

        /// Waits until there is something to send and the send rate allows it; `nil` when the generation is
        /// over (or the link stopped). When taking the batch ended a backlog, the consumer is woken (outside
        /// the lock) to let its producers go on.
        private func nextBatch(_ generation: Int) -> [String]? {
            // Not through `locked`: waiting inside its `inout` access would let the optimiser assume nothing
            // changes `state` meanwhile (exclusivity), and a stop would go unseen. Each access here is short.
            condition.lock()
            while true {
                switch state.takeBatch(generation: generation, now: .now()) {
                case .leave:
                    condition.unlock()
                    return nil
                case .wait:
                    condition.wait()
                case .waitUntil(let deadline):
                    let seconds = Double((deadline - .now()).nanoseconds) / 1e9
                    _ = condition.wait(until: Date(timeIntervalSinceNow: max(0, seconds)))
                case .send(let batch, let wakeConsumer):
                    let wake = wakeConsumer ? self.wake : nil
                    condition.unlock()
                    wake?()
                    return batch
                }
            }
        }

        // MARK: Shared by both threads

        private func connect(_ generation: Int) throws(DatabaseError) -> PostgresConnection {
            try PostgresConnection(parameters: parameters, shouldGiveUp: { self.isOver(generation) })
        }

        /// Reports a failure unless the generation ended meanwhile (then the failure is only its consequence);
        /// returns whether it was reported.
        private func reportFailure(
            _ role: ClusterLinkState.Role, _ generation: Int, _ error: Error, established: Bool
        ) -> Bool {
            guard !isOver(generation) else { return false }
            let message = (error as? DatabaseError)?.message ?? "\(error)"
            report(error: message) {
                $0.failed(role, generation: generation, message: message, established: established)
            }
            return true
        }

        /// Waits out the backoff after `failures` failed attempts; `false` when the link stopped meanwhile.
        private func pause(afterFailures failures: Int) -> Bool {
            let delay = min(
                Shared.firstBackoff.nanoseconds << Int64(min(failures - 1, 10)), Shared.maximumBackoff.nanoseconds)
            let until = Date(timeIntervalSinceNow: Double(delay) / 1e9)
            // Not through `locked`, for the reason given in nextStep(_:).
            condition.lock()
            defer { condition.unlock() }
            while state.phase != .stopped {
                if !condition.wait(until: until) { break }
            }
            return state.phase != .stopped
        }

        private func currentGeneration() -> Int? {
            locked { $0.phase == .stopped ? nil : $0.generation }
        }

        private func isOver(_ generation: Int) -> Bool {
            locked { $0.isOver(generation) }
        }

        private func isStopped() -> Bool {
            locked { $0.phase == .stopped }
        }

        private func enter(_ name: String) {
            // Named, so that a leftover thread is visible (ps -L, /proc/PID/task/*/comm).
            Thread.current.name = name
            locked { _ in running += 1 }
        }

        private func leave() {
            locked { _ in running -= 1 }
        }

        /// Runs `body` with the state, under the lock. `body` must not wait on `condition` (see nextStep(_:)).
        private func locked<T>(_ body: (inout ClusterLinkState) -> T) -> T {
            condition.lock()
            defer { condition.unlock() }
            return body(&state)
        }

        /// Applies a report to the state, then — outside the lock — wakes the consumer and logs.
        private func report(error: String? = nil, _ body: (inout ClusterLinkState) -> ClusterLinkState.Transition) {
            let (transition, wake) = locked { state in
                let transition = body(&state)
                if transition.wakeThreads { condition.broadcast() }
                return (transition, transition.wakeConsumer ? self.wake : nil)
            }
            if transition.outageBegan {
                logger.warning(
                    "cluster link out of contact with the database; reconnecting",
                    metadata: ["error": "\(error ?? "")", "unsent": "\(transition.discardedUnsent)"])
            }
            if let up = transition.contactUp {
                logger.info(up == .afterOutage ? "cluster link in contact again" : "cluster link listening")
            }
            wake?()
        }

        /// Waits up to one poll slice for `socket` to be readable (or writable, when asked); a hang-up or an
        /// error counts as readable, so that reading reports it.
        private static func wait(on socket: Int32, writable: Bool) -> (readable: Bool, writable: Bool) {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN) | (writable ? Int16(POLLOUT) : 0), revents: 0)
            let ready = poll(&descriptor, 1, pollSliceMilliseconds)
            guard ready > 0 else { return (false, false) }
            let revents = Int32(descriptor.revents)
            return ((revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0, (revents & POLLOUT) != 0)
        }
    }
}
