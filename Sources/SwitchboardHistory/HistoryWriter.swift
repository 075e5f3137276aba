import Logging
import NIOCore
import NIOPosix
import SwitchboardDatabase

/// Connection history and public chat lines, written in batches off the event loop.
///
/// The hub reports events (a connection opened, was refused, closed; a public line was said) and returns
/// at once: events wait in an in-memory queue and are committed to the ``DatabasePool``, as many as have
/// piled up (up to ``maximumBatchSize``) in one transaction. So a burst of chat costs a few transactions,
/// and a slow or stopped database never slows the chat:
///
/// ```
///  hub loop:  opened  message message closed  message …        (enqueue: O(1), never blocks)
///                 └──────── batch 1 ───────┘   └─ batch 2 ─┘
///  pool:          BEGIN; INSERT…; INSERT…; UPDATE…; COMMIT      (one transaction per batch)
/// ```
///
/// The writer is thin: every decision — when a batch starts, lingering, retry backoff, dropping, overflow
/// episodes — is ``HistoryWriteStateMachine``'s; the writer feeds it events, pool results and timer firings,
/// and carries out the actions it returns: batches through ``HistoryRepository`` on the pool, timers on
/// the loop, promises, log lines. What that amounts to:
///
/// - A batch that fails transiently (connection lost, database locked or down) stays queued and is retried
///   with backoff (100 ms doubling to 2 s); nothing is lost while the queue has room. A batch that fails
///   for any other reason three times running is dropped and logged, so one bad row cannot wedge history.
/// - The queue holds at most ``maximumQueuedEvents``; past that new events are dropped and counted in
///   ``droppedEvents``. Each overflow episode is logged when it starts, and with its count and time span
///   once the queue has drained to half the limit (`history queue overflowed: dropped N events between
///   T1 and T2`).
/// - A SQLite file deleted, moved or replaced under the server (see
///   ``SQLiteConnection/verifyFileIdentity()``) is never written to: events stay queued (up to the limit),
///   an error naming the path is logged every ``fileGoneLogInterval``, and writing resumes if the same
///   file comes back at the path.
/// - Chat lines and leaves linger up to ``lingerTime`` (20 ms) before a batch starts, and so do those queued
///   while a batch is written (unless they are a quarter of a batch: a flood); connects without a reserved
///   visitor number start one at once (a welcome waits for the row id). A SIGKILL can lose at most a linger
///   and a batch's write of the latest chat.
/// - Reads (``recentMessages(limit:)``, ``lastSeen(nickname:)``) first wait for the events queued before
///   them, so `/history` shows the line someone just said.
///
/// Ownership: every method must be called on ``eventLoop`` (the hub's loop); all state lives there.
public final class HistoryWriter {
    /// Told when history falls behind and catches up, and which clients' lines were lost (see
    /// ``HistoryWriterDelegate``). Held weakly: the hub owns the writer.
    public weak var delegate: (any HistoryWriterDelegate)?
    /// Where events go that do not fit in memory during an outage, and what a stop could not write.
    public let spool: HistorySpool?
    /// Events the machine handed to the spool this tick, appended together at its end.
    private var spooling: [HistoryWriteStateMachine.SpooledEvent] = []
    public let eventLoop: any EventLoop
    public let pool: DatabasePool
    /// The statements, in the pool's dialect.
    public let repository: HistoryRepository
    private let logger: Logger
    private var machine: HistoryWriteStateMachine
    private var visitorPromises: [ConnectionKey: EventLoopPromise<Int64>] = [:]
    private var flushPromises: [HistoryWriteStateMachine.FlushWaiterID: EventLoopPromise<Void>] = [:]
    private var nextFlushWaiter: UInt64 = 0

    /// How often the error for a deleted or replaced database file is repeated while it lasts.
    public static let fileGoneLogInterval = TimeAmount.seconds(10)

    /// Creates a writer through `pool`; call it only on `eventLoop`. `serverID` (the server's row in
    /// `servers`) is recorded in every connection row written, so the rows are known to be that server's.
    /// `maximumQueuedEvents` and `maximumQueuedBytes` bound the events held in memory; past half of either
    /// the writer tells its ``delegate`` it is behind (while the database is up). What does not fit goes to
    /// `spool` if there is one, else it is dropped. `maximumBatchSize` bounds a transaction and what it holds:
    /// 10 000 stored a flood on PostgreSQL at 0.80–1.04× of psql's `COPY`, 2 000 at 0.69–0.79× with 1–2 MB less
    /// held per batch (Benchmarks/history-rate.sh).
    public init(
        pool: DatabasePool, eventLoop: any EventLoop, logger: Logger, serverID: Int64? = nil,
        maximumQueuedEvents: Int = 100_000, maximumQueuedBytes: Int = 64 << 20, maximumBatchSize: Int = 2_000,
        lingerTime: TimeAmount = .milliseconds(20), spool: HistorySpool? = nil
    ) {
        self.pool = pool
        self.eventLoop = eventLoop
        self.logger = logger
        self.spool = spool
        self.repository = HistoryRepository(dialect: pool.url.dialect, serverID: serverID)
        var configuration = HistoryWriteStateMachine.Configuration(
            maximumQueuedEvents: maximumQueuedEvents, maximumQueuedBytes: maximumQueuedBytes,
            maximumBatchSize: maximumBatchSize, lingerTime: lingerTime)
        configuration.fileGoneReportInterval = HistoryWriter.fileGoneLogInterval
        configuration.spoolsOverflow = spool != nil
        self.machine = HistoryWriteStateMachine(configuration: configuration)
    }

    /// Events held in memory, at most; beyond this they are spooled (or dropped without a spool).
    public var maximumQueuedEvents: Int { machine.configuration.maximumQueuedEvents }
    /// Bytes of events held in memory, at most.
    public var maximumQueuedBytes: Int { machine.configuration.maximumQueuedBytes }
    /// Whether the writer has told its delegate it is behind (and not yet that it caught up).
    public var isBehind: Bool { machine.isBehind }
    /// Events in the spool, not yet read back.
    public var spooledEvents: Int { machine.spooledEvents }
    /// Events per transaction, at most.
    public var maximumBatchSize: Int { machine.configuration.maximumBatchSize }
    /// How long a chat line or leave may wait for others to share its transaction.
    public var lingerTime: TimeAmount { machine.configuration.lingerTime }
    /// Events waiting to be written.
    public var queuedEvents: Int { machine.queuedEvents }
    /// Events dropped because the queue was full or a batch failed permanently.
    public var droppedEvents: Int { machine.droppedEvents }
    /// Events committed so far.
    public var writtenEvents: Int { machine.writtenEvents }
    /// Transactions committed so far.
    public var committedBatches: Int { machine.committedBatches }

    // MARK: - Events

    /// Records an accepted connection under `visitor`, a number reserved with ``reserveVisitorNumbers(count:)``
    /// (or `nil`: one is reserved when the row is written). The future gives its row id (the visitor number)
    /// once written. With no `nickname`, the row is named `guest<id>`, the name the hub gives a new client.
    public func connectionOpened(
        _ key: ConnectionKey, visitor: Int64? = nil, peer: String, nickname: String?, at time: Timestamp
    ) -> EventLoopFuture<Int64> {
        eventLoop.preconditionInEventLoop()
        let promise = eventLoop.makePromise(of: Int64.self)
        visitorPromises[key] = promise
        enqueue(.opened(key, peer: peer, nickname: nickname, at: time, visitor: visitor))
        return promise.futureResult
    }

    /// Records a refused connection (`reason` like `refused: server full`); refusals use up visitor numbers
    /// too (`visitor`, or one reserved when the row is written).
    public func connectionRefused(visitor: Int64? = nil, peer: String, reason: String, at time: Timestamp) {
        enqueue(.refused(peer: peer, reason: reason, at: time, visitor: visitor))
    }

    /// Gives back reserved numbers not used (at shutdown), if nobody reserved after them.
    public func returnVisitorNumbers(_ unused: Range<Int64>) -> EventLoopFuture<Void> {
        let repository = self.repository
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.returnVisitorNumbers(unused, on: connection)
        }
    }

    /// Reserves `count` visitor numbers in one transaction of its own (not behind the queued events), so
    /// the hub can welcome newcomers without a database round trip each.
    public func reserveVisitorNumbers(count: Int) -> EventLoopFuture<Range<Int64>> {
        let repository = self.repository
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.reserveVisitorNumbers(count, on: connection)
        }
    }

    /// Closes an accepted connection's row.
    public func connectionClosed(_ key: ConnectionKey, _ summary: ConnectionSummary) {
        enqueue(.closed(key, summary))
    }

    /// Records a public line (chat or `/me`).
    public func messageSaid(_ key: ConnectionKey, nickname: String, kind: MessageKind, body: String, at time: Timestamp) {
        enqueue(.message(key, nickname: nickname, kind: kind, body: body, at: time), wallClock: time)
    }

    /// `wallClock`: now, if the caller has just read it (a chat line's time: one clock read less a line).
    private func enqueue(_ event: HistoryEvent, wallClock: Timestamp = .now()) {
        eventLoop.preconditionInEventLoop()
        perform(machine.enqueue(event, now: HistoryWriter.now(), wallClock: wallClock))
    }

    // MARK: - Flushing and reads

    /// Completes when every event queued before this call is committed (or given up on).
    public func flushed() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        let (id, future) = makeFlushWaiter()
        perform(machine.flushRequested(id))
        return future
    }

    /// Shutdown: like ``flushed()``, and events recorded from now on are written at once rather than
    /// lingering.
    public func drained() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        let (id, future) = makeFlushWaiter()
        perform(machine.drainRequested(id))
        return future
    }

    /// At a stop that could not write everything in time: puts every event not yet committed in the spool's
    /// stop file (fsynced), after whatever was on its way to the spool. The future gives how many events
    /// were spooled and how many were lost (no spool, or it was full). The writer writes nothing after this.
    public func spoolUnwritten() -> EventLoopFuture<(spooled: Int, lost: Int)> {
        eventLoop.preconditionInEventLoop()
        let unwritten = machine.takeUnwritten()
        let inSpool = machine.spooledEvents + spooling.count
        flushSpooling()
        // Nobody will be told a row id or that everything is written now: the waits end here.
        for promise in visitorPromises.values { promise.fail(HistoryWriterError.stopped) }
        visitorPromises.removeAll()
        for promise in flushPromises.values { promise.fail(HistoryWriterError.stopped) }
        flushPromises.removeAll()
        guard let spool else { return eventLoop.makeSucceededFuture((0, unwritten.count)) }
        guard !unwritten.isEmpty else { return eventLoop.makeSucceededFuture((inSpool, 0)) }
        let logger = self.logger
        return spool.writeAtStop(unwritten, on: eventLoop).map { written in
            (inSpool + written, unwritten.count - written)
        }.recover { error in
            logger.error("cannot write the history spool at the stop", metadata: ["error": "\(error)"])
            return (inSpool, unwritten.count)
        }
    }

    /// The last `limit` public lines, oldest first, including any queued before this call.
    public func recentMessages(limit: Int) -> EventLoopFuture<[StoredMessage]> {
        let repository = self.repository
        let pool = self.pool
        let loop = eventLoop
        return flushed().flatMap {
            HistoryWriter.read(pool, on: loop) { connection throws(DatabaseError) in
                try repository.recentMessages(limit: limit, on: connection)
            }
        }
    }

    /// When `nickname` (any case) was last seen leaving or speaking, with the nickname as it was spelled
    /// then, or `nil` if never.
    public func lastSeen(nickname: String) -> EventLoopFuture<SeenRecord?> {
        let repository = self.repository
        let pool = self.pool
        let loop = eventLoop
        return flushed().flatMap {
            HistoryWriter.read(pool, on: loop) { connection throws(DatabaseError) in
                try repository.lastSeen(nickname: nickname, on: connection)
            }
        }
    }

    /// Runs a read on the pool; if its connection turns out to be dead (a restarted server, a terminated
    /// backend), tries again — reads are safe to repeat, and the pool has dropped the dead connection — up
    /// to once per pool thread, so a reply is not lost to connections that died while idle. A database
    /// that is down fails the reconnect instead (not `connectionLost`), which ends the retries.
    static func read<T: Sendable>(
        _ pool: DatabasePool, on loop: any EventLoop, attempt: Int = 1,
        _ body: @escaping @Sendable (any DatabaseConnection) throws(DatabaseError) -> T
    ) -> EventLoopFuture<T> {
        pool.withConnection(on: loop, body).flatMapError { error in
            guard (error as? DatabaseError)?.kind == .connectionLost, attempt <= pool.numberOfThreads else {
                return loop.makeFailedFuture(error)
            }
            return read(pool, on: loop, attempt: attempt + 1, body)
        }
    }

    // MARK: - Carrying out the machine's actions

    private static func now() -> NIODeadline {
        NIODeadline.now()
    }

    private func makeFlushWaiter() -> (HistoryWriteStateMachine.FlushWaiterID, EventLoopFuture<Void>) {
        nextFlushWaiter += 1
        let id = HistoryWriteStateMachine.FlushWaiterID(rawValue: nextFlushWaiter)
        let promise = eventLoop.makePromise(of: Void.self)
        flushPromises[id] = promise
        return (id, promise.futureResult)
    }

    /// Carries out `actions` in order. The machine has already moved on when they run, so a promise callback
    /// that records another event (re-entering the writer) sees its current state. `failure` is the error
    /// of the batch the actions answer, if it failed.
    private func perform(_ actions: [HistoryWriteStateMachine.Action], failure: (any Error)? = nil) {
        let loop = eventLoop.assumeIsolated()
        for action in actions {
            switch action {
            case .startBatchAtEndOfTick:
                loop.execute { self.perform(self.machine.writeDue()) }
            case .lingerUntil(let instant):
                loop.scheduleTask(deadline: instant) {
                    self.perform(self.machine.lingerTimerFired(now: HistoryWriter.now()))
                }
            case .retryAfter(let delay):
                loop.scheduleTask(in: delay) {
                    self.perform(self.machine.retryTimerFired())
                }
            case .startBatch(let batch):
                write(batch)
            case .resolveVisitors(let resolutions):
                for resolution in resolutions {
                    guard let promise = visitorPromises.removeValue(forKey: resolution.key) else { continue }
                    switch resolution.outcome {
                    case .number(let id): promise.succeed(id)
                    case .queueFull: promise.fail(HistoryWriterError.queueFull)
                    case .batchDropped: promise.fail(failure ?? HistoryWriterError.notRecorded)
                    case .notRecorded: promise.fail(HistoryWriterError.notRecorded)
                    }
                }
            case .wakeFlushWaiters(let ids):
                for id in ids { flushPromises.removeValue(forKey: id)?.succeed(()) }
            case .reportOverflowStarted:
                logger.error(
                    "history queue full; dropping events until it drains",
                    metadata: ["queue-limit": "\(maximumQueuedEvents)", "dropped-total": "\(droppedEvents)"])
            case .reportOverflowEpisode(let episode):
                logger.error(
                    "history queue overflowed: dropped \(episode.dropped) events between \(episode.from.iso8601) and \(episode.to.iso8601)",
                    metadata: ["queue-limit": "\(maximumQueuedEvents)", "dropped-total": "\(droppedEvents)"])
            case .reportDatabaseFileGone:
                let message = (failure as? DatabaseError)?.message ?? "the database file is gone"
                logger.error(
                    "HISTORY IS NOT BEING WRITTEN: \(message)",
                    metadata: ["queued": "\(queuedEvents)", "queue-limit": "\(maximumQueuedEvents)"])
            case .reportOutage:
                logger.warning(
                    "history write failed; events stay queued and will be retried",
                    metadata: ["error": "\(failure.map { "\($0)" } ?? "?")", "queued": "\(queuedEvents)"])
            case .reportRecovered:
                logger.info("history database is back; queued events written", metadata: ["queued": "\(queuedEvents)"])
            case .dropBatch(let events):
                logger.error(
                    "history batch failed permanently; dropping it",
                    metadata: ["error": "\(failure.map { "\($0)" } ?? "?")", "events": "\(events)"])
            case .behind(let behind):
                logger.debug(
                    behind ? "history is behind; holding back clients who say lines" : "history caught up",
                    metadata: ["queued": "\(queuedEvents)"])
                delegate?.historyWriter(isBehind: behind)
            case .linesNotStored(let keys):
                delegate?.historyWriter(couldNotStoreLinesOf: keys)
            case .spool(let events):
                if spooling.isEmpty { loop.execute { self.flushSpooling() } }
                spooling += events
            case .readSpool(let maximumEvents, let maximumBytes):
                readSpool(maximumEvents: maximumEvents, maximumBytes: maximumBytes)
            case .removeSpool:
                logger.notice("history spool read back; events queue in memory again")
                _ = spool?.removeOverflow(on: eventLoop)
            }
        }
    }

    /// Appends the events the machine spooled this tick, in one fsynced write on the spool's thread.
    private func flushSpooling() {
        guard !spooling.isEmpty else { return }
        let events = spooling
        spooling = []
        guard let spool else {
            return perform(machine.spoolAppendFailed(events, wallClock: Timestamp.now()))
        }
        if machine.spooledEvents == events.count {
            logger.warning(
                "history queue full during an outage; spooling events to disk",
                metadata: ["spool": "\(spool.overflowPath)", "queued": "\(queuedEvents)"])
        }
        spool.append(events, on: eventLoop).assumeIsolated().whenSuccess { failed in
            if !failed.isEmpty { self.perform(self.machine.spoolAppendFailed(failed, wallClock: Timestamp.now())) }
        }
    }

    private func readSpool(maximumEvents: Int, maximumBytes: Int) {
        guard let spool else { return perform(machine.spoolRead([])) }
        spool.read(maximumEvents: maximumEvents, maximumBytes: maximumBytes, on: eventLoop).assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let events):
                    self.perform(self.machine.spoolRead(events))
                case .failure(let error):
                    self.logger.error(
                        "cannot read the history spool back; its events are lost",
                        metadata: ["error": "\(error)", "events": "\(self.machine.spooledEvents)"])
                    self.perform(self.machine.spoolRead([]))
                }
            }
    }

    /// Told how long each batch took, from asking the pool to its outcome, with its size and whether it
    /// committed (the metrics' history batch latency). Called on the writer's event loop.
    public var batchTimed: ((_ duration: TimeAmount, _ events: Int, _ committed: Bool) -> Void)?

    /// Writes one batch in a transaction on a pool thread; the outcome goes back into the machine.
    private func write(_ batch: HistoryWriteStateMachine.Batch) {
        let repository = self.repository
        let started = NIODeadline.now()
        pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.write(batch.events, known: batch.knownRowIDs, through: batch.lastSequence, on: connection)
        }.assumeIsolated().whenComplete { result in
            if let batchTimed = self.batchTimed {
                if case .success = result {
                    batchTimed(NIODeadline.now() - started, batch.events.count, true)
                } else {
                    batchTimed(NIODeadline.now() - started, batch.events.count, false)
                }
            }
            switch result {
            case .success(let rowIDs):
                self.perform(self.machine.batchSucceeded(rowIDs: rowIDs, now: HistoryWriter.now()))
            case .failure(let error):
                let database = error as? DatabaseError
                let failure: HistoryWriteStateMachine.BatchFailure =
                    database?.isDatabaseFileMoved == true
                    ? .databaseFileGone : database?.isTransient == true ? .transient : .notTransient
                self.perform(self.machine.batchFailed(failure, now: HistoryWriter.now()), failure: error)
            }
        }
    }
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension HistoryWriter: Sendable {}
