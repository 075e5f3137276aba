import Logging
import SwitchboardDatabase
import XCTest

/// A migrated test database and a pool on it: for tests of the database layer itself (migrations, rows).
public final class DatabaseFixture: Sendable {
    public let database: TestDatabase
    public let pool: DatabasePool

    public init(_ database: TestDatabase) async throws {
        self.database = database
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        pool = DatabasePool(url: database.url, numberOfThreads: 2, logger: logger)
        pool.start()
        _ = try await migrate()
    }

    /// Applies pending migrations, as start-up does.
    public func migrate() async throws -> Migrator.Outcome {
        let dialect = database.url.dialect
        return try await pool.withConnection { connection throws(DatabaseError) in
            try Migrator(dialect: dialect).migrate(connection)
        }
    }

    /// A raw query on a pool thread.
    public func query(_ sql: String, _ binds: [DatabaseValue] = []) async throws -> [DatabaseRow] {
        try await pool.withConnection { connection throws(DatabaseError) in try connection.query(sql, binds) }
    }

    public func close() async {
        try? await pool.shutdown()
        database.drop()
    }
}

extension XCTestCase {
    /// Runs `body` once per reachable backend (SQLite, and PostgreSQL when configured) on a fresh, migrated
    /// database, GRDB-style.
    public func forEachMigratedDatabase(
        file: StaticString = #filePath, line: UInt = #line, _ body: (DatabaseFixture) async throws -> Void
    ) async throws {
        try await TestDatabases.forEach(file: file, line: line) { database in
            let fixture = try await DatabaseFixture(database)
            do {
                try await body(fixture)
            } catch {
                await fixture.close()
                throw error
            }
            await fixture.close()
        }
    }

    /// The dialect's placeholder for parameter `n`.
    public func placeholder(_ dialect: SQLDialect, _ n: Int) -> String { dialect == .sqlite ? "?\(n)" : "$\(n)" }
}
