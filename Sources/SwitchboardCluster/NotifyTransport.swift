import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SwitchboardDatabase
import SwitchboardHistory

/// The transport of cluster mode: servers sharing one PostgreSQL database exchange opaque text payloads of any
/// size over LISTEN/NOTIFY — small ones in the NOTIFY itself, large ones through a table. Entirely off the
/// event loops, bounded in memory, reconnecting by itself.
///
/// ```
///  publish(p) ──▶ outbox (≤ maximumOutbox, ≤ maximumOutboxBytes) ──▶ notify thread, ≤ sendRate bytes/s ──▶
///                  SELECT pg_notify($1, $2), pg_notify($1, $3), …     payloads ≤ inlinePayloadLimit bytes
///                  (one statement = one transaction = one commit lock per batch)
///                  INSERT INTO cluster_payloads …, pg_notify('CHANNEL:large', 'ORIGIN ID')   a larger one
///
///  PostgreSQL ──▶ listen thread: LISTEN both channels; poll(socket) → PQconsumeInput → PQnotifies
///                   ├─ a reference: its row read back (and marked read) on the same connection, in its place
///                   └──▶ inbox (≤ maximumInbox payloads, ≤ maximumInboxBytes, the rest counted as dropped)
///                          └── went from empty to non-empty? ──▶ wake()  ──▶ caller: take() → [event]
/// ```
///
/// **Wake once, drain all.** The listen thread never hands events to the caller; it appends them to a
/// locked inbox and calls the `wake` closure given to ``start(wake:)`` only when the inbox goes from empty to
/// non-empty. The caller then takes everything with ``take()``, typically
/// `loop.execute { handle(transport.take()) }`. Until it does, further arrivals only queue, so a slow event
/// loop costs one pending task, not one per payload; once ``maximumInbox`` payloads (or
/// ``maximumInboxBytes`` of them) wait, further ones are counted and reported as `.dropped(n)` in their
/// place. Connection events travel through the same inbox, so they stay in order with the payloads. What
/// ``take()`` hands over (``ClusterTransportEvent``): `.connected` when LISTEN is active, the first time and
/// after every reconnect (re-sync there); `.disconnected` once per outage, however many reconnection attempts
/// fail (its message names no password); each `.payload`, oldest first; `.dropped(n)`.
///
/// **Pacing and backlog.** The notify thread sends at most ``sendRate`` payload bytes a second, so one
/// server's flood cannot reach the others faster than that. What waits is bounded (``maximumOutboxBytes``, one
/// second of sending); past a quarter of it the transport is ``isBacklogged`` — the publisher should stop
/// its producers — until it is down to a sixteenth, when `wake` is called so the publisher can look again.
///
/// **Contact.** The two connections (listen and notify) are one unit: when either breaks — the server
/// stopped, the backend was terminated, a statement got no answer within 10 s — `.disconnected` is queued
/// once for the outage, both connections are closed, and both threads reconnect (100 ms, then doubling to
/// 2 s between failed attempts) until LISTEN is active again, when `.connected` is queued. Payloads are
/// taken only while in contact: whatever arrives outside a `.connected` … `.disconnected` window (and
/// whatever was queued for sending when contact was lost) is gone, and the caller re-syncs on `.connected`.
/// An idle listen connection is pinged (`SELECT 1`) every 10 s so that a silent network is noticed.
///
/// **Payloads** are UTF-8 without NUL, of any size. One of at most ``inlinePayloadLimit`` (7999) bytes —
/// PostgreSQL's NOTIFY refuses 8000 — travels in the NOTIFY and is delivered to every transport listening,
/// the sender included. A larger one is stored in `cluster_payloads` (migration 7; ``LargePayloadTable``)
/// by the statement that NOTIFYs its reference; every other transport reads it back in its place, and the
/// sender does not get it back. Every transport sees every payload in the same order, PostgreSQL's commit
/// order (its notification queue is one queue, for both channels). Identical payloads published close
/// together are still delivered once each: PostgreSQL folds identical notifications within one transaction,
/// so a batch is cut before a repeat. A row is deleted by the last of the servers running when it was
/// stored to read it, or swept by a later sender once no running server is left to read it or it is older
/// than ``LargePayloadTable/maximumAge``; a reader that finds a row gone reports it as dropped.
///
/// The database's encoding should be UTF8 (or SQL_ASCII): in another encoding a payload the server cannot
/// convert fails its batch, which is then logged and counted in ``Statistics/unsent``.
///
/// Thread ownership: each connection is opened, used and closed by its own thread of ``threads`` (a
/// two-thread `NIOThreadPool`, not an event loop). All other state lives in ``Shared`` under its lock.
/// Every public method may be called from any thread; ``shutdown()`` waits for the threads.
public final class NotifyTransport: Sendable {
    /// Why ``publish(_:)`` refused a payload outright.
    public enum PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
        /// PostgreSQL text cannot hold NUL.
        case containsNUL

        public var description: String { "a cluster payload contains a NUL character" }
    }

    /// Counters since ``init``, for operators and benchmarks.
    public struct Statistics: Sendable, Equatable {
        /// Payloads ``publish(_:)`` queued.
        public var queued = 0
        /// Payloads ``publish(_:)`` refused: out of contact, or the outbox was full.
        public var refused = 0
        /// Payloads the server confirmed (their NOTIFY committed).
        public var sent = 0
        /// Of those, payloads over ``NotifyTransport/inlinePayloadLimit`` that went through the table.
        public var stored = 0
        /// Statements that sent them (``sent`` / ``batches`` is the mean batch size).
        public var batches = 0
        /// Payloads queued but not sent: discarded when contact was lost or the transport stopped, or refused
        /// by the server with their batch. A batch on the wire when contact is lost counts nowhere.
        public var unsent = 0
        /// Payloads put in the inbox.
        public var received = 0
        /// Of those, large payloads read back from the table.
        public var readBack = 0
        /// Payloads received while the inbox was full, and discarded; and references whose row was gone.
        public var dropped = 0
        /// Times contact was lost (or could not be made at first).
        public var outages = 0
        /// Connection attempts (connect, or LISTEN) that failed.
        public var failedAttempts = 0
        /// Times the bytes waiting to be sent went past the outbox's high-water mark (``isBacklogged``).
        public var backlogs = 0

        public init() {}
    }

    /// The largest payload that travels in the NOTIFY itself, in bytes (PostgreSQL's limit is "less than
    /// 8000"); larger ones go through the table. The cluster's one payload limit: the wire format packs to it
    /// (``ClusterMessage/inlinePayloadBytes``), and the bounds here hold at least one of it.
    public static let inlinePayloadLimit = 7999
    /// The default bound on the bytes of received payloads waiting in the inbox (8 MiB).
    public static let defaultMaximumInboxBytes = 8 * 1024 * 1024
    /// The default send rate, in payload bytes a second (4 MiB/s).
    public static let defaultSendRate = 4 * 1024 * 1024
    /// The smallest send rate: one full NOTIFY a second.
    public static let minimumSendRate = inlinePayloadLimit

    /// The NOTIFY channel; references to large payloads go on it plus ``LargePayloadTable/channelSuffix``.
    public let channel: String
    /// This server's id (its `servers` row): its own large payloads are not read back, and the rows it was
    /// listed to read are marked read under it.
    public let serverID: Int64
    /// How many received payloads may wait in the inbox before further ones are dropped.
    public let maximumInbox: Int
    /// How many bytes of received payloads may wait in the inbox before further ones are dropped (a larger
    /// payload still goes into an empty inbox).
    public let maximumInboxBytes: Int
    /// How many published payloads may wait to be sent before ``publish(_:)`` refuses.
    public let maximumOutbox: Int
    /// At most this many payload bytes are sent a second (a token bucket holding a quarter of a second's
    /// worth, at least one full NOTIFY; a larger payload waits for a full bucket and leaves it in debt).
    public let sendRate: Int
    /// How many bytes of published payloads may wait to be sent before ``publish(_:)`` refuses: one second
    /// at ``sendRate`` (at least four full NOTIFYs; a larger payload is taken while nothing waits). Past a
    /// quarter of it the transport is backlogged (``isBacklogged``) until a sixteenth is left.
    public var maximumOutboxBytes: Int { NotifyTransport.outboxBytes(sendRate: sendRate).maximumBytes }

    /// The outbox's bounds in bytes for `sendRate`: one second of sending; backlogged from a quarter of
    /// that down to a sixteenth.
    static func outboxBytes(sendRate: Int) -> NotifyTransportState.OutboxBytes {
        let maximum = max(sendRate, 4 * inlinePayloadLimit)
        return NotifyTransportState.OutboxBytes(maximumBytes: maximum, highWater: maximum / 4, lowWater: maximum / 16)
    }

    /// The bucket for `sendRate`: a quarter of a second's worth, at least one full NOTIFY.
    static func bucket(sendRate: Int) -> NotifyTransportState.SendRate {
        NotifyTransportState.SendRate(bytesPerSecond: sendRate, burst: max(sendRate / 4, inlinePayloadLimit))
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

    /// Creates a transport for the database `parameters` name; nothing connects before ``start(wake:)``.
    ///
    /// - Parameters:
    ///   - serverID: this server's `servers` row.
    ///   - channel: the NOTIFY channel, 1 to 57 bytes without NUL (case matters; the large payloads'
    ///     channel adds ``LargePayloadTable/channelSuffix``).
    ///   - maximumInbox: received payloads that may wait for ``take()`` (at least 1).
    ///   - maximumInboxBytes: their bytes (at least ``inlinePayloadLimit``).
    ///   - maximumOutbox: published payloads that may wait to be sent (at least 1).
    ///   - sendRate: payload bytes sent a second, at most (at least ``minimumSendRate``); it also sizes the
    ///     outbox in bytes (``maximumOutboxBytes``).
    public init(
        parameters: PostgresConnectionParameters, serverID: Int64, channel: String = "switchboard",
        maximumInbox: Int = 10_000, maximumInboxBytes: Int = NotifyTransport.defaultMaximumInboxBytes,
        maximumOutbox: Int = 10_000, sendRate: Int = NotifyTransport.defaultSendRate, logger: Logger
    ) {
        precondition(
            !channel.isEmpty && channel.utf8.count + LargePayloadTable.channelSuffix.utf8.count <= 63
                && !channel.utf8.contains(0),
            "a NOTIFY channel is 1 to 57 bytes without NUL")
        precondition(
            maximumInbox > 0 && maximumOutbox > 0 && maximumInboxBytes >= NotifyTransport.inlinePayloadLimit,
            "the inbox and the outbox need room for a payload")
        precondition(sendRate >= NotifyTransport.minimumSendRate, "the send rate must allow a NOTIFY a second")
        self.channel = channel
        self.serverID = serverID
        self.maximumInbox = maximumInbox
        self.maximumInboxBytes = maximumInboxBytes
        self.maximumOutbox = maximumOutbox
        self.sendRate = sendRate
        self.shared = Shared(
            parameters: parameters, channel: channel, serverID: serverID, logger: logger,
            state: NotifyTransportState(
                maximumInbox: maximumInbox, maximumOutbox: maximumOutbox, maximumBatchCount: Shared.maximumBatchCount,
                maximumBatchBytes: Shared.maximumBatchBytes, maximumInboxBytes: maximumInboxBytes,
                outboxBytes: NotifyTransport.outboxBytes(sendRate: sendRate),
                sendRate: NotifyTransport.bucket(sendRate: sendRate)))
    }

    deinit {
        // Never shut down: stop the threads anyway (they hold `shared`, not the transport) and let NIO join them.
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
    /// `wake` is called on a transport thread each time the inbox goes from empty to non-empty (and when a
    /// send backlog ends); it must be cheap and must not block — schedule ``take()`` on the consumer's event
    /// loop. It may call ``take()`` itself. It is never called after ``shutdown()`` has returned.
    public func start(wake: @escaping @Sendable () -> Void) {
        let shared = self.shared
        let threads = self.threads
        // Under the lifecycle lock, so that a concurrent shutdown() finds the threads either not started or
        // started with their work.
        lifecycle.withLockedValue { state in
            switch state {
            case .idle:
                state = .running
            case .running:
                preconditionFailure("NotifyTransport started twice")
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

    /// Queues `payload` to be sent to every transport on the channel (this one included, unless it is over
    /// ``inlinePayloadLimit``). Never blocks.
    ///
    /// Returns `false`, and sends nothing, while out of contact (the caller re-syncs on `.connected`) or when
    /// ``maximumOutbox`` payloads or ``maximumOutboxBytes`` bytes are already waiting (logged once per
    /// overflow). `true` means queued, not delivered: a payload queued when contact is lost is discarded.
    /// Sending is paced at ``sendRate``; see ``isBacklogged`` for when to stop producing.
    ///
    /// - Throws: ``PayloadError`` for a payload PostgreSQL cannot carry (NUL); nothing is sent.
    @discardableResult
    public func publish(_ payload: String) throws(PayloadError) -> Bool {
        guard !payload.utf8.contains(0) else { throw .containsNUL }
        return shared.publish(payload)
    }

    /// Everything received since the last call, oldest first. Empty when nothing is waiting (an earlier call
    /// took it).
    public func take() -> [ClusterTransportEvent] {
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

    /// How many of the transport's threads are inside their loops (0 once ``shutdown()`` has returned).
    var runningThreads: Int { shared.runningThreads }
}

extension NotifyTransport: ClusterTransport {
    package func send(_ payload: String) -> Bool {
        (try? publish(payload)) ?? false
    }

    /// Gives what is queued up to half a second to go out (the members' leaves at shutdown), then stops.
    package func stop() async {
        let deadline = DispatchTime.now() + .milliseconds(500)
        while DispatchTime.now() < deadline {
            let counts = statistics
            if counts.sent + counts.unsent >= counts.queued { break }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        await shutdown()
    }
}
