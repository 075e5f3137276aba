import Logging
import NIOCore
import NIOPosix
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase
import SwitchboardHistory

/// A migrated database, its pool, and a ``HistoryWriter`` on a real event loop (pool futures complete from
/// other threads, which `EmbeddedEventLoop` does not allow).
final class StoreFixture: Sendable {
    let database: TestDatabase
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let pool: DatabasePool
    let store: NIOLoopBound<HistoryWriter>
    let repository: HistoryRepository
    var loop: any EventLoop { store.eventLoop }

    init(_ database: TestDatabase, queueLimit: Int = 100_000) async throws {
        self.database = database
        var quietLogger = Logger(label: "test")
        quietLogger.logLevel = .critical
        let logger = quietLogger
        pool = DatabasePool(url: database.url, numberOfThreads: 2, logger: logger)
        pool.start()
        let repository = HistoryRepository(dialect: database.url.dialect)
        self.repository = repository
        _ = try await pool.withConnection { connection throws(DatabaseError) in try repository.migrate(on: connection) }
        let loop = group.next()
        let pool = self.pool
        store = try await loop.submit {
            NIOLoopBound(
                HistoryWriter(pool: pool, eventLoop: loop, logger: logger, maximumQueuedEvents: queueLimit),
                eventLoop: loop)
        }.get()
    }

    /// Runs `body` with the store on its loop.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (HistoryWriter) -> T) async throws -> T {
        let store = self.store
        return try await loop.submit { body(store.value) }.get()
    }

    /// Runs `body` on the loop and waits for the future it returns.
    func awaitOnLoop<T: Sendable>(_ body: @escaping @Sendable (HistoryWriter) -> EventLoopFuture<T>) async throws -> T {
        let store = self.store
        return try await loop.flatSubmit { body(store.value) }.get()
    }

    /// Waits until everything queued so far is committed.
    func flush() async throws { try await awaitOnLoop { $0.flushed() } }

    /// A raw query on a pool thread.
    func query(_ sql: String, _ binds: [DatabaseValue] = []) async throws -> [DatabaseRow] {
        try await pool.withConnection { connection throws(DatabaseError) in try connection.query(sql, binds) }
    }

    /// Runs `body` with the repository and a connection on a pool thread.
    func withRepository<T: Sendable>(
        _ body: @escaping @Sendable (HistoryRepository, any DatabaseConnection) throws(DatabaseError) -> T
    ) async throws -> T {
        let repository = self.repository
        return try await pool.withConnection { connection throws(DatabaseError) in try body(repository, connection) }
    }

    /// Applies pending migrations, as start-up does.
    func migrate() async throws -> Migrator.Outcome {
        try await withRepository { repository, connection throws(DatabaseError) in try repository.migrate(on: connection) }
    }

    /// The newest `limit` connection rows, newest first.
    func connections(limit: Int) async throws -> [ConnectionRecord] {
        try await withRepository { repository, connection throws(DatabaseError) in
            try repository.connections(limit: limit, on: connection)
        }
    }

    func close() async {
        try? await pool.shutdown()
        try? await group.shutdownGracefully()
        database.drop()
    }
}

extension XCTestCase {
    /// Runs `body` once per reachable backend (SQLite, and PostgreSQL when configured), GRDB-style.
    func forEachDatabase(
        queueLimit: Int = 100_000, file: StaticString = #filePath, line: UInt = #line,
        _ body: (StoreFixture) async throws -> Void
    ) async throws {
        try await TestDatabases.forEach(file: file, line: line) { database in
            let fixture = try await StoreFixture(database, queueLimit: queueLimit)
            do {
                try await body(fixture)
            } catch {
                await fixture.close()
                throw error
            }
            await fixture.close()
        }
    }
}
