import SwitchboardStorage
import SwitchboardTestSupport
import XCTest

/// Migrations on both backends: applied once, recorded with their checksum, and a database made by a
/// different binary is refused.
final class MigratorTests: XCTestCase {
    /// Every migration is recorded with version, name, SHA-256 checksum and time; a second run does nothing.
    func testMigrationsAreRecordedAndApplyOnce() async throws {
        try await forEachDatabase { db in
            let rows = try await db.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
            let expected = Migration.all(for: db.pool.url.dialect)
            XCTAssertFalse(expected.isEmpty)
            XCTAssertEqual(rows.map { $0[0].int64 }, expected.map { Int64($0.version) })
            XCTAssertEqual(rows.map { $0[1].string }, expected.map(\.name))
            XCTAssertEqual(rows.map { $0[2].string }, expected.map(\.checksum))
            XCTAssertTrue(rows.allSatisfy { $0[2].string?.count == 64 && $0[3].string != nil })
            let again = try await db.migrate()
            XCTAssertEqual(again.applied, [])
            XCTAssertEqual(again.alreadyApplied, expected.count)
        }
    }

    /// A migration file changed after it was applied is refused, naming the migration.
    func testChangedChecksumIsRefused() async throws {
        try await forEachDatabase { db in
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
        try await forEachDatabase { db in
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
}
