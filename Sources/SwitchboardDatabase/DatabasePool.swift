import CSQLite
import Foundation
import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Twisted's `deferToThread` plus adbapi's `ConnectionPool`: blocking database work runs on a fixed set of
/// worker threads, one database connection per thread, and the result comes back to the caller's event
/// loop as an `EventLoopFuture`.
///
/// - A connection is opened lazily on each worker thread and stays there (see ``ConnectionSlot``).
/// - ``transaction(on:_:)`` commits when the body returns and rolls back when it throws.
/// - A connection that reports itself broken (``DatabaseConnection/isUsable``) is dropped after the
///   interaction that hit it fails; the next interaction on that thread reconnects, with exponential
///   backoff between failed attempts (100 ms doubling to 5 s) so a dead server is not hammered.
///
/// All methods may be called from any thread. The bodies run on pool threads only.
public final class DatabasePool: Service, Sendable {
    /// The database this pool talks to.
    public let url: DatabaseURL
    /// How many worker threads (and so connections) the pool runs.
    public let numberOfThreads: Int
    /// Between failed attempts to reconnect a pool thread's connection: 100 ms, doubling to 5 s.
    static let reconnectBackoff = Backoff(first: .milliseconds(100), maximum: .seconds(5))
    private let threadPool: NIOThreadPool
    private let lifecycle = NIOLockedValueBox(Lifecycle.new)
    private enum Lifecycle { case new, running, stopped }
    private let slots = ThreadSpecificVariable<ConnectionSlot>()
    private let makeConnection: @Sendable () throws(DatabaseError) -> any DatabaseConnection
    private let logger: Logger
    /// Set by ``shutdown()`` so that a connection attempt waiting on the network ends at once.
    private let stopping: StopFlag
    /// Set when the task in ``waitUntilReachable(timeout:)`` is cancelled, for the same reason.
    private let waitAbandoned: StopFlag
    /// Work waiting and failures, for the metrics (one lock round per interaction).
    private let counters = NIOLockedValueBox(DatabasePoolStatistics())

    /// Work waiting for a pool thread now, and failures by kind so far.
    public var statistics: DatabasePoolStatistics { counters.withLockedValue { $0 } }

    /// Creates a pool for `url` with `numberOfThreads` workers. Call ``start()`` before use.
    public init(url: DatabaseURL, numberOfThreads: Int, logger: Logger) {
        self.url = url
        self.numberOfThreads = max(1, numberOfThreads)
        self.threadPool = NIOThreadPool(numberOfThreads: self.numberOfThreads)
        self.logger = logger
        let stopping = StopFlag()
        let waitAbandoned = StopFlag()
        self.stopping = stopping
        self.waitAbandoned = waitAbandoned
        self.makeConnection = DatabasePool.connector(for: url, shouldGiveUp: { stopping.isSet || waitAbandoned.isSet })
    }

    /// Opens connections of the right kind for `url` (a PostgreSQL URL's parameters, parsed when the URL
    /// was).
    public static func connector(for url: DatabaseURL) -> @Sendable () throws(DatabaseError) -> any DatabaseConnection {
        connector(for: url, shouldGiveUp: { false })
    }

    package static func connector(
        for url: DatabaseURL, shouldGiveUp: @escaping @Sendable () -> Bool
    ) -> @Sendable () throws(DatabaseError) -> any DatabaseConnection {
        switch url {
        case .sqlite(let path):
            return { () throws(DatabaseError) in
                do throws(DatabaseError) {
                    return try SQLiteConnection(path: path)
                } catch {
                    throw DatabasePool.classifyingSQLiteOpenFailure(error, path: path)
                }
            }
        case .postgres(let parameters):
            return { () throws(DatabaseError) in
                try PostgresConnection(parameters: parameters, shouldGiveUp: shouldGiveUp)
            }
        }
    }

    /// Marks the SQLite open failures that waiting cannot cure — no such directory, a read-only or
    /// foreign file, permission denied — and says which it is where SQLite's words are vague.
    static func classifyingSQLiteOpenFailure(_ error: DatabaseError, path: String) -> DatabaseError {
        guard let code = error.sqliteCode else { return error }
        var error = error
        switch code & 0xff {
        case SQLITE_CANTOPEN:
            error.requiresIntervention = true
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
                error.message += " (the directory \(directory) does not exist)"
            }
        case SQLITE_READONLY:
            error.requiresIntervention = true
            error.message += " (the file or its directory is read-only)"
        case SQLITE_PERM, SQLITE_AUTH, SQLITE_NOTADB, SQLITE_CORRUPT:
            error.requiresIntervention = true
        default:
            break
        }
        return error
    }

    /// Starts the worker threads. Safe to call more than once (the server and the service both may).
    public func start() {
        let first = lifecycle.withLockedValue { state in
            defer { if state == .new { state = .running } }
            return state == .new
        }
        if first { threadPool.start() }
    }

    /// Stops the worker threads once queued work has run; their connections close as the threads exit.
    /// Safe to call more than once.
    public func shutdown() async throws {
        let first = lifecycle.withLockedValue { state in
            defer { state = .stopped }
            return state == .running
        }
        stopping.set()
        if first { try await threadPool.shutdownGracefully() }
    }

    /// As a `Service` (in the server's `ServiceGroup`, before the server so it stops after it): starts,
    /// waits for graceful shutdown, then stops once queued work (the last history batch) has run.
    public func run() async throws {
        start()
        try? await gracefulShutdown()
        try await shutdown()
    }

    /// Runs `body` with this thread's connection on a pool thread; the future completes on `eventLoop`.
    public func withConnection<T: Sendable>(
        on eventLoop: any EventLoop,
        _ body: @escaping @Sendable (any DatabaseConnection) throws(DatabaseError) -> T
    ) -> EventLoopFuture<T> {
        counters.withLockedValue { $0.waiting += 1 }
        let future = threadPool.runIfActive(eventLoop: eventLoop) { try self.runOnPoolThread(body) }
        future.whenFailure { error in
            if error is NIOThreadPoolError.ThreadPoolInactive { self.counters.withLockedValue { $0.waiting -= 1 } }
        }
        return future
    }

    /// Runs `body` in a transaction on a pool thread: commit on return, rollback on throw.
    public func transaction<T: Sendable>(
        on eventLoop: any EventLoop,
        _ body: @escaping @Sendable (any DatabaseConnection) throws(DatabaseError) -> T
    ) -> EventLoopFuture<T> {
        withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try connection.transaction { connection throws(DatabaseError) in try body(connection) }
        }
    }

    /// The async form of ``withConnection(on:_:)``, for the CLI and services.
    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (any DatabaseConnection) throws(DatabaseError) -> T
    ) async throws -> T {
        counters.withLockedValue { $0.waiting += 1 }
        do {
            return try await threadPool.runIfActive { try self.runOnPoolThread(body) }
        } catch let error as NIOThreadPoolError.ThreadPoolInactive {
            counters.withLockedValue { $0.waiting -= 1 }
            throw error
        }
    }

    /// The async form of ``transaction(on:_:)``.
    public func transaction<T: Sendable>(
        _ body: @escaping @Sendable (any DatabaseConnection) throws(DatabaseError) -> T
    ) async throws -> T {
        try await withConnection { connection throws(DatabaseError) in
            try connection.transaction { connection throws(DatabaseError) in try body(connection) }
        }
    }

    /// Waits until a connection can be opened, retrying for up to `timeout` only the failures that
    /// waiting can cure (``DatabaseError/healsByWaiting``: refused, timed out, starting up, too many
    /// connections, locked). Any other failure is thrown at once, as it is; after `timeout` the last
    /// failure is thrown as `cannot reach URL after N s: …` (password redacted). Used at start-up, when
    /// PostgreSQL may still be starting.
    ///
    /// Throws `CancellationError` within about 250 ms when the calling task is cancelled.
    public func waitUntilReachable(timeout: TimeAmount) async throws {
        let deadline = NIODeadline.now() + timeout
        var attempt = 0
        waitAbandoned.clear()
        while true {
            try Task.checkCancellation()
            do {
                try await withTaskCancellationHandler {
                    try await withConnection { _ in () }
                } onCancel: {
                    waitAbandoned.set()
                }
                try Task.checkCancellation()
                return
            } catch let error as DatabaseError where error.healsByWaiting && NIODeadline.now() < deadline {
                attempt += 1
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning(
                        "database not reachable yet, retrying",
                        metadata: ["database": "\(url.redacted)", "error": "\(error.message)"]
                    )
                }
                try await Task.sleep(nanoseconds: 250_000_000)
            } catch let error as DatabaseError where error.healsByWaiting {
                throw DatabaseError(
                    error.kind,
                    message: "cannot reach \(url.redacted) after \(timeout.nanoseconds / 1_000_000_000) s: \(error.message)",
                    sql: error.sql, sqliteCode: error.sqliteCode, sqlState: error.sqlState
                )
            }
        }
    }

    private func runOnPoolThread<T>(
        _ body: (any DatabaseConnection) throws(DatabaseError) -> T
    ) throws(DatabaseError) -> T {
        counters.withLockedValue { $0.waiting -= 1 }
        do {
            return try runWithThisThreadsConnection(body)
        } catch {
            let kind = error.kind.description.replacingOccurrences(of: " ", with: "_")
            counters.withLockedValue { $0.errors[kind, default: 0] += 1 }
            throw error
        }
    }

    private func runWithThisThreadsConnection<T>(
        _ body: (any DatabaseConnection) throws(DatabaseError) -> T
    ) throws(DatabaseError) -> T {
        let slot: ConnectionSlot
        if let existing = slots.currentValue {
            slot = existing
        } else {
            slot = ConnectionSlot()
            slots.currentValue = slot
            DatabasePool.lowerThreadPriority()
        }
        let connection = try slot.acquire(makeConnection, logger: logger, url: url)
        do {
            return try body(connection)
        } catch {
            if !connection.isUsable {
                logger.warning(
                    "database connection lost; it will be replaced",
                    metadata: ["database": "\(url.redacted)", "error": "\(error)"]
                )
                slot.connection = nil
            }
            throw error
        }
    }
}

/// The connection of one pool worker thread, and its reconnect backoff.
///
/// `@unchecked Sendable`: it is stored in a `ThreadSpecificVariable`, so each instance is created, read and
/// written by exactly one pool thread and released when that thread exits; it never crosses threads.
final class ConnectionSlot: @unchecked Sendable {
    var connection: (any DatabaseConnection)?
    private var failures = 0
    private var lastFailure: DatabaseError?
    private var retryAtNanoseconds: UInt64 = 0

    func acquire(
        _ make: () throws(DatabaseError) -> any DatabaseConnection, logger: Logger, url: DatabaseURL
    ) throws(DatabaseError) -> any DatabaseConnection {
        if let connection, connection.isUsable { return connection }
        connection = nil
        let now = NIODeadline.now().uptimeNanoseconds
        if let lastFailure, now < retryAtNanoseconds { throw lastFailure }
        do {
            let fresh = try make()
            if failures > 0 {
                logger.info("database connection re-established", metadata: ["database": "\(url.redacted)"])
            }
            failures = 0
            lastFailure = nil
            connection = fresh
            return fresh
        } catch {
            failures += 1
            lastFailure = error
            retryAtNanoseconds = now + UInt64(DatabasePool.reconnectBackoff.delay(afterFailures: failures).nanoseconds)
            throw error
        }
    }
}

/// A flag set and cleared from any thread.
///
/// `@unchecked Sendable`: `value` is only read and written with `lock` held.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
    func clear() { lock.withLock { value = false } }
}

extension DatabasePool {
    /// Database threads run at a lower CPU priority (nice +5) than the event loop: on a small machine a
    /// history batch then waits for a free core instead of preempting the chat (measured: paced latency).
    static func lowerThreadPriority() {
        #if os(Linux)
        // On Linux the nice value is per thread, and who = 0 means the calling thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 5)
        #endif
    }
}
