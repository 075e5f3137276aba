import Logging
import NIOCore
import NIOPosix

/// Connection history and public chat lines, written in batches off the event loop.
///
/// The hub reports events (a connection opened, was refused, closed; a public line was said) and returns
/// at once: events wait in an in-memory queue and a writer commits them to the ``DatabasePool``, as many as
/// have piled up (up to ``maximumBatchSize``) in one transaction. So a burst of chat costs a few
/// transactions, and a slow or stopped database never slows the chat:
///
/// ```
///  hub loop:  opened  message message closed  message …        (enqueue: O(1), never blocks)
///                 └──────── batch 1 ───────┘   └─ batch 2 ─┘
///  pool:          BEGIN; INSERT…; INSERT…; UPDATE…; COMMIT      (one transaction per batch)
/// ```
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
///   an error naming the path is logged every ``fileMovedLogInterval``, and writing resumes if the same
///   file comes back at the path.
/// - Chat lines and leaves linger up to ``lingerTime`` (20 ms) before a batch starts; connects start one at
///   once (a welcome waits for the row id). A SIGKILL can lose at most that much of the latest chat.
/// - Reads (``recentMessages(limit:)``, ``lastSeen(nickname:)``) first wait for the events queued before
///   them, so `/history` shows the line someone just said.
///
/// Ownership: every method must be called on ``eventLoop`` (the hub's loop); all state lives there.
public final class HistoryStore {
    public let eventLoop: any EventLoop
    public let pool: DatabasePool
    /// Queued events beyond this are dropped (and counted).
    public let maximumQueuedEvents: Int
    /// Events per transaction, at most.
    public let maximumBatchSize: Int
    private let sql: HistorySQL
    private let logger: Logger

    private struct Queued {
        var sequence: UInt64
        var event: HistoryEvent
    }

    private var queue = CircularBuffer<Queued>()
    private var writing = false
    private var retryScheduled = false
    private var lingerScheduled = false
    /// How long a chat line or leave may wait for others to share its transaction.
    public let lingerTime: TimeAmount
    private var nextSequence: UInt64 = 1
    /// Every event up to and including this sequence number is committed (or was given up on).
    private var settledSequence: UInt64 = 0
    private var rowIDs: [ConnectionKey: Int64] = [:]
    private var visitorPromises: [ConnectionKey: EventLoopPromise<Int64>] = [:]
    private var flushWaiters: [(sequence: UInt64, promise: EventLoopPromise<Void>)] = []
    private var consecutiveFailures = 0
    private var outageLogged = false
    /// The overflow episode under way: events dropped since the queue filled, and when the first and last
    /// were dropped.
    private var overflow: (dropped: Int, first: Timestamp, last: Timestamp)?
    /// When the missing-file error was last logged.
    private var fileMovedLoggedAt: NIODeadline?
    /// How often the error for a deleted or replaced database file is repeated while it lasts.
    public static let fileMovedLogInterval = TimeAmount.seconds(10)
    /// Events dropped because the queue was full or a batch failed permanently.
    public private(set) var droppedEvents = 0
    /// Events committed so far.
    public private(set) var writtenEvents = 0
    /// Transactions committed so far.
    public private(set) var committedBatches = 0

    /// Creates a store writing through `pool`; call it only on `eventLoop`.
    public init(
        pool: DatabasePool, eventLoop: any EventLoop, logger: Logger,
        maximumQueuedEvents: Int = 100_000, maximumBatchSize: Int = 2_000, lingerTime: TimeAmount = .milliseconds(20)
    ) {
        self.lingerTime = lingerTime
        self.pool = pool
        self.eventLoop = eventLoop
        self.logger = logger
        self.maximumQueuedEvents = max(1, maximumQueuedEvents)
        self.maximumBatchSize = max(1, maximumBatchSize)
        self.sql = HistorySQL.forDialect(pool.url.dialect)
    }

    /// Events waiting to be written.
    public var queuedEvents: Int { queue.count }

    // MARK: - Events

    /// Records an accepted connection. The future gives its row id (the visitor number) once written.
    /// With no `nickname`, the row is named `guest<id>`, the name the hub gives a new client.
    public func connectionOpened(
        _ key: ConnectionKey, peer: String, nickname: String?, at time: Timestamp
    ) -> EventLoopFuture<Int64> {
        eventLoop.preconditionInEventLoop()
        let promise = eventLoop.makePromise(of: Int64.self)
        if enqueue(.opened(key, peer: peer, nickname: nickname, at: time)) {
            visitorPromises[key] = promise
        } else {
            promise.fail(HistoryStoreError.queueFull)
        }
        return promise.futureResult
    }

    /// Records a refused connection (`reason` like `refused: server full`).
    public func connectionRefused(peer: String, reason: String, at time: Timestamp) {
        enqueue(.refused(peer: peer, reason: reason, at: time))
    }

    /// Closes an accepted connection's row.
    public func connectionClosed(_ key: ConnectionKey, _ summary: ConnectionSummary) {
        enqueue(.closed(key, summary))
    }

    /// Records a public line (chat or `/me`).
    public func messageSaid(_ key: ConnectionKey, nickname: String, kind: MessageKind, body: String, at time: Timestamp) {
        enqueue(.message(key, nickname: nickname, kind: kind, body: body, at: time))
    }

    @discardableResult
    private func enqueue(_ event: HistoryEvent) -> Bool {
        eventLoop.preconditionInEventLoop()
        guard queue.count < maximumQueuedEvents else {
            droppedEvents += 1
            let now = Timestamp.now()
            if let episode = overflow {
                overflow = (episode.dropped + 1, episode.first, now)
            } else {
                overflow = (1, now, now)
                logger.error(
                    "history queue full; dropping events until it drains",
                    metadata: ["queue-limit": "\(maximumQueuedEvents)", "dropped-total": "\(droppedEvents)"])
            }
            return false
        }
        queue.append(Queued(sequence: nextSequence, event: event))
        nextSequence += 1
        if case .opened = event {
            writeSoon()  // someone's welcome waits for this row id
        } else {
            writeAfterLinger()
        }
        return true
    }

    /// Starts a batch at the end of this tick (so the rest of the tick's events join it), unless one is
    /// already being written or a retry is pending.
    private func writeSoon() {
        guard !writing && !retryScheduled else { return }
        writing = true
        eventLoop.assumeIsolated().execute { self.writeBatch() }
    }

    /// Chat lines and leaves wait up to ``lingerTime`` for company, so steady chat costs a transaction
    /// per linger period rather than one per line, and the pool thread wakes rarely (it shares the CPU with
    /// the event loop). Anything that needs the write (a welcome, a read, shutdown) calls ``writeSoon()``.
    private func writeAfterLinger() {
        guard !writing && !retryScheduled && !lingerScheduled else { return }
        if queue.count >= maximumBatchSize {
            writeSoon()
            return
        }
        lingerScheduled = true
        eventLoop.assumeIsolated().scheduleTask(in: lingerTime) {
            self.lingerScheduled = false
            self.writeSoon()
        }
    }

    // MARK: - Writing

    private func writeBatch() {
        guard !queue.isEmpty else {
            writing = false
            return
        }
        writing = true
        let count = min(queue.count, maximumBatchSize)
        var events: [HistoryEvent] = []
        events.reserveCapacity(count)
        var known: [ConnectionKey: Int64] = [:]
        for index in 0..<count {
            let event = queue[queue.index(queue.startIndex, offsetBy: index)].event
            events.append(event)
            if let key = event.referencedKey, let id = rowIDs[key] { known[key] = id }
        }
        let sql = self.sql
        let batch = events
        let knownIDs = known
        pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try HistoryStore.write(batch, known: knownIDs, sql: sql, on: connection)
        }.assumeIsolated().whenComplete { result in
            self.batchFinished(count: count, result: result)
        }
    }

    /// Runs on a pool thread inside the batch's transaction. Returns the row ids of opened connections.
    private static func write(
        _ events: [HistoryEvent], known: [ConnectionKey: Int64], sql: HistorySQL, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> [ConnectionKey: Int64] {
        if let sqlite = connection as? SQLiteConnection { try sqlite.verifyFileIdentity() }
        var ids = known
        var opened: [ConnectionKey: Int64] = [:]
        for event in events {
            switch event {
            case .opened(let key, let peer, let nickname, let time):
                let rows = try connection.query(
                    sql.insertConnection, [.text(peer), nickname.map(DatabaseValue.text) ?? .null, .text(time.iso8601)])
                if let id = rows.first?.first?.int64 {
                    ids[key] = id
                    opened[key] = id
                    if nickname == nil { try connection.query(sql.nameGuest, [.integer(id)]) }
                }
            case .refused(let peer, let reason, let time):
                try connection.query(sql.insertRefused, [.text(peer), .text(time.iso8601), .text(reason)])
            case .closed(let key, let summary):
                guard let id = ids[key] else { continue }  // its `opened` was dropped: nothing to close
                try connection.query(sql.closeConnection, [
                    .integer(id), summary.nickname.map(DatabaseValue.text) ?? .null, .text(summary.closedAt.iso8601),
                    .text(summary.reason),
                    .integer(summary.linesIn), .integer(summary.linesOut),
                    .integer(summary.bytesIn), .integer(summary.bytesOut),
                ])
            case .message(let key, let nickname, let kind, let body, let time):
                guard let id = ids[key] else { continue }
                try connection.query(sql.insertMessage, [
                    .integer(id), .text(nickname), .text(kind.rawValue), .text(body), .text(time.iso8601),
                ])
            }
        }
        return opened
    }

    private func batchFinished(count: Int, result: Result<[ConnectionKey: Int64], any Error>) {
        switch result {
        case .success(let opened):
            if outageLogged {
                logger.info("history database is back; queued events written", metadata: ["queued": "\(queue.count)"])
                outageLogged = false
            }
            consecutiveFailures = 0
            committedBatches += 1
            writtenEvents += count
            settle(count: count, opened: opened, failure: nil)
            writeBatch()
        case .failure(let error):
            consecutiveFailures += 1
            let transient = (error as? DatabaseError)?.isTransient ?? false
            if let error = error as? DatabaseError, error.isDatabaseFileMoved {
                let now = NIODeadline.now()
                if fileMovedLoggedAt.map({ now - $0 >= HistoryStore.fileMovedLogInterval }) ?? true {
                    logger.error(
                        "HISTORY IS NOT BEING WRITTEN: \(error.message)",
                        metadata: ["queued": "\(queue.count)", "queue-limit": "\(maximumQueuedEvents)"])
                    fileMovedLoggedAt = now
                }
                outageLogged = true
                scheduleRetry()
            } else if transient || consecutiveFailures < 3 {
                if !outageLogged {
                    logger.warning(
                        "history write failed; events stay queued and will be retried",
                        metadata: ["error": "\(error)", "queued": "\(queue.count)"])
                    outageLogged = true
                }
                scheduleRetry()
            } else {
                logger.error(
                    "history batch failed permanently; dropping it",
                    metadata: ["error": "\(error)", "events": "\(count)"])
                droppedEvents += count
                consecutiveFailures = 0
                settle(count: count, opened: [:], failure: error)
                writeBatch()
            }
        }
    }

    /// Tries the batch again after a backoff (100 ms doubling to 2 s); the events stay queued meanwhile.
    private func scheduleRetry() {
        writing = false
        retryScheduled = true
        let delay = TimeAmount.milliseconds(min(100 << Int64(min(consecutiveFailures - 1, 5)), 2_000))
        eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.retryScheduled = false
            if !self.writing { self.writeBatch() }
        }
    }

    /// Removes the first `count` events, hands out visitor numbers, forgets closed connections and wakes
    /// flush waiters whose events are now settled.
    private func settle(count: Int, opened: [ConnectionKey: Int64], failure: (any Error)?) {
        for (key, id) in opened { rowIDs[key] = id }
        for _ in 0..<count {
            let item = queue.removeFirst()
            settledSequence = item.sequence
            switch item.event {
            case .opened(let key, _, _, _):
                let promise = visitorPromises.removeValue(forKey: key)
                if let id = opened[key] {
                    promise?.succeed(id)
                } else {
                    promise?.fail(failure ?? HistoryStoreError.notRecorded)
                }
            case .closed(let key, _):
                rowIDs[key] = nil
            case .refused, .message:
                break
            }
        }
        if let episode = overflow, queue.count <= maximumQueuedEvents / 2 {
            // Ended at half the limit, not at the first free slot, so a queue hovering at its limit logs
            // one episode rather than one per batch.
            overflow = nil
            logger.error(
                "history queue overflowed: dropped \(episode.dropped) events between \(episode.first.iso8601) and \(episode.last.iso8601)",
                metadata: ["queue-limit": "\(maximumQueuedEvents)", "dropped-total": "\(droppedEvents)"])
        }
        if !flushWaiters.isEmpty {
            let ready = flushWaiters.filter { $0.sequence <= settledSequence }
            flushWaiters.removeAll { $0.sequence <= settledSequence }
            for waiter in ready { waiter.promise.succeed(()) }
        }
    }

    // MARK: - Reads

    /// Completes when every event queued before this call is committed (or given up on).
    public func flushed() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        let last = nextSequence - 1
        if last <= settledSequence { return eventLoop.makeSucceededVoidFuture() }
        writeSoon()
        let promise = eventLoop.makePromise(of: Void.self)
        flushWaiters.append((last, promise))
        return promise.futureResult
    }

    /// The last `limit` public lines, oldest first, including any queued before this call.
    public func recentMessages(limit: Int) -> EventLoopFuture<[StoredMessage]> {
        let sql = self.sql.recentMessages
        let pool = self.pool
        let loop = eventLoop
        return flushed().flatMap {
            pool.withConnection(on: loop) { connection throws(DatabaseError) in
                try connection.query(sql, [.integer(Int64(limit))]).reversed().compactMap { row in
                    guard let nickname = row[0].string, let kind = row[1].string.flatMap(MessageKind.init(rawValue:)),
                        let body = row[2].string, let sentAt = row[3].string.flatMap(Timestamp.init(iso8601:))
                    else { return nil }
                    return StoredMessage(nickname: nickname, kind: kind, body: body, sentAt: sentAt)
                }
            }
        }
    }

    /// When `nickname` (any case) was last seen leaving or speaking, with the nickname as it was spelled
    /// then, or `nil` if never.
    public func lastSeen(nickname: String) -> EventLoopFuture<SeenRecord?> {
        let sql = self.sql.lastSeen
        let pool = self.pool
        let loop = eventLoop
        return flushed().flatMap {
            pool.withConnection(on: loop) { connection throws(DatabaseError) in
                guard let row = try connection.query(sql, [.text(nickname)]).first else { return nil }
                // Columns: nickname, t (the time, ISO 8601).
                guard row.count == 2, let stored = row[0].string, let at = row[1].string.flatMap(Timestamp.init(iso8601:))
                else {
                    throw DatabaseError(.statementFailed, message: "unexpected last-seen row (\(row.count) columns)", sql: sql)
                }
                return SeenRecord(nickname: stored, at: at)
            }
        }
    }

    // MARK: - Start-up and tools (async, off the loop)

    /// Accepted connections ever recorded (refusals excluded): `/count`'s visit total at start-up.
    public static func totalVisits(pool: DatabasePool) async throws -> Int64 {
        let sql = HistorySQL.forDialect(pool.url.dialect).totalVisits
        return try await pool.withConnection { connection throws(DatabaseError) in
            try connection.query(sql, []).first?.first?.int64 ?? 0
        }
    }

    /// Closes rows a previous process left open (it was killed), with `reason`. Returns how many.
    public static func closeOrphanedConnections(
        pool: DatabasePool, reason: String = "server stopped unexpectedly"
    ) async throws -> Int {
        let sql = HistorySQL.forDialect(pool.url.dialect).closeOrphans
        return try await pool.transaction { connection throws(DatabaseError) in
            try connection.query(sql + " RETURNING id", [.text(Timestamp.now().iso8601), .text(reason)]).count
        }
    }

    /// The newest `limit` connection rows, newest first.
    public static func connections(pool: DatabasePool, limit: Int) async throws -> [ConnectionRecord] {
        try await pool.withConnection { connection throws(DatabaseError) in
            try listConnections(on: connection, limit: limit)
        }
    }

    /// The newest `limit` connection rows, newest first, read without writing anything, for an operator
    /// who may have read access only (`switchboard history`).
    ///
    /// Opens its own connection on a thread of its own: SQLite read-only (no journal-mode switch, no
    /// checkpoint, the file's bytes untouched), PostgreSQL in a read-only session with no DDL. Runs no
    /// migration; a database without Switchboard's schema, or with migrations pending, is refused (kind
    /// `migrationMismatch`) with a message saying to run `switchboard migrate` or start the server. An
    /// unreachable PostgreSQL is retried for `connectTimeout`.
    public static func readConnections(
        url: DatabaseURL, limit: Int, connectTimeout: TimeAmount, logger: Logger
    ) async throws -> [ConnectionRecord] {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        defer { thread.shutdownGracefully { _ in } }
        let deadline = NIODeadline.now() + connectTimeout
        var attempt = 0
        while true {
            do {
                return try await thread.runIfActive {
                    let connection: any DatabaseConnection
                    switch url {
                    case .sqlite(let path):
                        connection = try SQLiteConnection(path: path, readOnly: true)
                    case .postgres(let uri):
                        connection = try PostgresConnection(uri: uri)
                        try connection.executeScript("SET default_transaction_read_only = on")
                    }
                    switch try Migrator(dialect: url.dialect).status(connection) {
                    case .upToDate:
                        return try listConnections(on: connection, limit: limit)
                    case .noSchema:
                        throw DatabaseError(
                            .migrationMismatch,
                            message: "database \(url.redacted) has no Switchboard schema yet: "
                                + "run 'switchboard migrate' or start the server")
                    case .pending(let missing):
                        let names = missing.map { "\($0.version) \($0.name)" }.joined(separator: ", ")
                        throw DatabaseError(
                            .migrationMismatch,
                            message: "database \(url.redacted) lacks migration\(missing.count == 1 ? "" : "s") \(names): "
                                + "run 'switchboard migrate' or start the server")
                    }
                }
            } catch let error as DatabaseError
                where error.kind == .connectFailed && url.dialect == .postgres && NIODeadline.now() < deadline
            {
                attempt += 1
                if attempt == 1 {
                    logger.warning(
                        "database not reachable yet, retrying",
                        metadata: ["database": "\(url.redacted)", "error": "\(error.message)"])
                }
                try await Task.sleep(nanoseconds: 250_000_000)
            } catch let error as DatabaseError where error.kind == .connectFailed {
                throw DatabaseError(
                    error.kind, message: "cannot reach \(url.redacted): \(error.message)",
                    sql: error.sql, sqliteCode: error.sqliteCode, sqlState: error.sqlState)
            }
        }
    }

    /// Decodes `listConnections` rows; a row that does not fit is an error, never silently skipped.
    private static func listConnections(
        on connection: any DatabaseConnection, limit: Int
    ) throws(DatabaseError) -> [ConnectionRecord] {
        let sql = HistorySQL.forDialect(connection.dialect).listConnections
        // Columns: id, peer, nickname, connected_at, disconnected_at, close_reason,
        //          lines_in, lines_out, bytes_in, bytes_out.
        var records: [ConnectionRecord] = []
        for row in try connection.query(sql, [.integer(Int64(limit))]) {
            guard row.count == 10, let id = row[0].int64, let peer = row[1].string,
                let connectedAt = row[3].string.flatMap(Timestamp.init(iso8601:))
            else {
                throw DatabaseError(.statementFailed, message: "unexpected connections row (\(row.count) columns)", sql: sql)
            }
            records.append(
                ConnectionRecord(
                    id: id, peer: peer, nickname: row[2].string, connectedAt: connectedAt,
                    disconnectedAt: row[4].string.flatMap(Timestamp.init(iso8601:)), closeReason: row[5].string,
                    linesIn: row[6].int64 ?? 0, linesOut: row[7].int64 ?? 0,
                    bytesIn: row[8].int64 ?? 0, bytesOut: row[9].int64 ?? 0))
        }
        return records
    }

    /// Applies pending migrations (see ``Migrator``).
    public static func migrate(pool: DatabasePool) async throws -> Migrator.Outcome {
        let migrator = Migrator(dialect: pool.url.dialect)
        return try await pool.withConnection { connection throws(DatabaseError) in try migrator.migrate(connection) }
    }
}

/// Why a history event did not reach the database.
public enum HistoryStoreError: Error, Sendable {
    /// The queue was full, so the event was dropped.
    case queueFull
    /// The batch holding the event failed permanently.
    case notRecorded
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension HistoryStore: Sendable {}
