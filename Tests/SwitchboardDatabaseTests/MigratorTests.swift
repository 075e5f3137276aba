import SwitchboardTestSupport
import XCTest
@testable import SwitchboardDatabase

/// Migrations on both backends: applied once, recorded with their checksum, and a database made by a
/// different binary is refused.
final class MigratorTests: XCTestCase {
    /// Every migration file is recorded with its version, name, SHA-256 checksum (checked against
    /// `sha256sum` on the file in `Migrations/`, not against the code's own hash) and time; a second run
    /// does nothing.
    func testMigrationsAreRecordedAndApplyOnce() async throws {
        try await forEachMigratedDatabase { db in
            let rows = try await db.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
            let dialect = db.pool.url.dialect
            let files = try MigrationFile.all(dialect: dialect == .sqlite ? "sqlite" : "postgres")
            let expected = Migration.all(for: dialect)
            XCTAssertFalse(files.isEmpty)
            XCTAssertEqual(rows.map { $0[0].int64 }, files.map { Int64($0.version) })
            XCTAssertEqual(rows.map { $0[1].string }, files.map(\.name))
            XCTAssertEqual(rows.map { $0[2].string }, files.map(\.sha256), "checksum = SHA-256 of the file")
            XCTAssertTrue(rows.allSatisfy { $0[3].string != nil })
            let again = try await db.migrate()
            XCTAssertEqual(again.applied, [])
            XCTAssertEqual(again.alreadyApplied, expected.count)
        }
    }

    /// A migration file changed after it was applied is refused, naming the migration.
    func testChangedChecksumIsRefused() async throws {
        try await forEachMigratedDatabase { db in
            _ = try await db.query("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
            do {
                _ = try await db.migrate()
                XCTFail("a changed checksum must be refused")
            } catch let error as DatabaseError {
                XCTAssertEqual(error.kind, .migrationMismatch)
                XCTAssertTrue(error.message.contains("migration 1"), error.message)
            }
        }
    }

    /// A database with a migration this binary does not know (a newer version made it) is refused.
    func testUnknownMigrationIsRefused() async throws {
        try await forEachMigratedDatabase { db in
            let dialect = db.pool.url.dialect
            _ = try await db.query(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (\(placeholder(dialect, 1)), 'from_the_future', 'abc', \(placeholder(dialect, 2)))",
                [.integer(9_999), .text(Timestamp.now().iso8601)])
            do {
                _ = try await db.migrate()
                XCTFail("an unknown migration must be refused")
            } catch let error as DatabaseError {
                XCTAssertEqual(error.kind, .migrationMismatch)
                XCTAssertTrue(error.message.contains("9999"), error.message)
            }
        }
    }

    /// Each migration runs in its own transaction: when the second of two fails part-way, the first stays
    /// applied and recorded, and nothing of the second remains (not even the table it created before failing).
    func testEachMigrationRunsInItsOwnTransaction() throws {
        try TestDatabases.forEach { database in
            let connection = try DatabasePool.connector(for: database.url)()
            let migrations = [
                Migration(version: 1, name: "first", sql: "CREATE TABLE first_table (id INTEGER)", checksum: "1"),
                Migration(
                    version: 2, name: "second",
                    sql: "CREATE TABLE second_table (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
                    checksum: "2"),
            ]
            let migrator = Migrator(dialect: database.url.dialect, migrations: migrations)
            XCTAssertThrowsError(try migrator.migrate(connection), "the second migration fails")
            let tables = try connection.query(
                database.url.dialect == .sqlite
                    ? "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                    : "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename", []
            ).compactMap { $0.first?.string }
            XCTAssertEqual(tables, ["first_table", "schema_migrations"], "[\(database.url.dialect)]")
            let recorded = try connection.query("SELECT version FROM schema_migrations ORDER BY version", [])
            XCTAssertEqual(recorded.map { $0.first?.int64 }, [1], "[\(database.url.dialect)] only the first is recorded")
        }
    }

    /// Versions need not be contiguous: a binary with 1 and 3 migrates; a later binary that also has 2 (a
    /// branch merged after 3 was numbered) applies 2 on a database that already has 3, and records all three.
    func testAGapInVersionsIsAppliedAndFilledLater() throws {
        try TestDatabases.forEach { database in
            let connection = try DatabasePool.connector(for: database.url)()
            let one = Migration(version: 1, name: "one", sql: "CREATE TABLE one_table (id INTEGER)", checksum: "1")
            let two = Migration(version: 2, name: "two", sql: "CREATE TABLE two_table (id INTEGER)", checksum: "2")
            let three = Migration(version: 3, name: "three", sql: "CREATE TABLE three_table (id INTEGER)", checksum: "3")
            let first = try Migrator(dialect: database.url.dialect, migrations: [one, three]).migrate(connection)
            XCTAssertEqual(first.applied.map(\.version), [1, 3], "[\(database.url.dialect)]")
            let later = try Migrator(dialect: database.url.dialect, migrations: [one, two, three]).migrate(connection)
            XCTAssertEqual(later.applied.map(\.version), [2], "[\(database.url.dialect)] the gap is filled")
            XCTAssertEqual(later.alreadyApplied, 2)
            let recorded = try connection.query("SELECT version FROM schema_migrations ORDER BY version", [])
            XCTAssertEqual(recorded.map { $0.first?.int64 }, [1, 2, 3], "[\(database.url.dialect)]")
        }
    }
}
