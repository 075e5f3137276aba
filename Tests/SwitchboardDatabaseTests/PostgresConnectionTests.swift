import Foundation
import NIOConcurrencyHelpers
import SwitchboardTestSupport
import XCTest
@testable import SwitchboardDatabase

/// `PostgresConnection` against a real server: each test gets a fresh database from
/// `TestDatabases.requirePostgres()` (run through `scripts/with-postgres.sh`). Skipped only outside strict
/// mode when no server is configured.
final class PostgresConnectionTests: XCTestCase {
    private var database: TestDatabase?
    private var uri = ""

    override func setUpWithError() throws {
        let database = try TestDatabases.requirePostgres()
        self.database = database
        guard case .postgres(let parameters) = database.url else { return XCTFail("not a PostgreSQL URL: \(database)") }
        self.uri = parameters.uri
    }

    override func tearDown() {
        database?.drop()
        database = nil
    }

    private func connect() throws -> PostgresConnection {
        try PostgresConnection(uri: uri)
    }

    /// Expects `body` to throw a `DatabaseError` and returns it.
    private func databaseError(
        file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
    ) -> DatabaseError? {
        do {
            try body()
            XCTFail("expected a DatabaseError", file: file, line: line)
        } catch let error as DatabaseError {
            return error
        } catch {
            XCTFail("expected a DatabaseError, got \(error)", file: file, line: line)
        }
        return nil
    }

    /// Text (including empty and non-ASCII), integers at both extremes and NULL survive a round trip.
    func testTextIntegersAndNullRoundTrip() throws {
        let connection = try connect()
        try connection.executeScript(
            "CREATE TABLE samples (id BIGINT PRIMARY KEY, body TEXT, note TEXT); CREATE TABLE other (x INT)")
        let samples: [(Int64, DatabaseValue, DatabaseValue)] = [
            (1, .text("hello"), .null),
            (2, .text(""), .text("empty is not NULL")),
            (3, .text("héllo wörld ✓ 🚀 \"quoted\" 'single' \\ back"), .null),
            (Int64.max, .text("max"), .integer(42)),
            (Int64.min, .null, .text("min")),
        ]
        for (id, body, note) in samples {
            try connection.query("INSERT INTO samples (id, body, note) VALUES ($1, $2, $3)", [.integer(id), body, note])
        }
        let rows = try connection.query("SELECT id, body, note FROM samples ORDER BY id", [])
        XCTAssertEqual(rows.count, samples.count)
        for (row, sample) in zip(rows, samples.sorted { $0.0 < $1.0 }) {
            XCTAssertEqual(row[0].int64, sample.0)
            XCTAssertEqual(row[1], sample.1.string.map(DatabaseValue.text) ?? .null)
            XCTAssertEqual(row[2], sample.2.string.map(DatabaseValue.text) ?? .null)
        }
        // Same SQL again: the cached prepared statement is reused, with new values.
        let one = try connection.query("SELECT id, body, note FROM samples WHERE id = $1", [.integer(2)])
        XCTAssertEqual(one, [[.text("2"), .text(""), .text("empty is not NULL")]])
        let expression = try connection.query("SELECT $1::bigint + 1, $2::text IS NULL", [.integer(41), .null])
        XCTAssertEqual(expression.first?[0].int64, 42)
        XCTAssertEqual(expression.first?[1], .text("t"))
        XCTAssertEqual(try connection.query("SELECT 1 WHERE false", []), [])
    }

    /// A value that looks like SQL is stored as text, not run: the table it names survives.
    func testInjectionStringIsStoredAsText() throws {
        let connection = try connect()
        try connection.executeScript("CREATE TABLE x (body TEXT NOT NULL)")
        let hostile = "'); DROP TABLE x; --"
        try connection.query("INSERT INTO x (body) VALUES ($1)", [.text(hostile)])
        XCTAssertEqual(try connection.query("SELECT body FROM x WHERE body = $1", [.text(hostile)]), [[.text(hostile)]])
        XCTAssertEqual(try connection.query("SELECT count(*) FROM x", []).first?.first?.int64, 1)
        // PostgreSQL text cannot hold NUL; refused rather than silently cut short.
        let nul = databaseError { try connection.query("INSERT INTO x (body) VALUES ($1)", [.text("a\u{0}b")]) }
        XCTAssertEqual(nul?.kind, .statementFailed)
    }

    /// A failed statement reports its SQLSTATE, message and SQL, and never the values bound to it — not
    /// even when PostgreSQL quotes the bad input back.
    func testErrorCarriesSQLStateAndSQLButNotBoundValues() throws {
        let connection = try connect()
        try connection.executeScript("CREATE TABLE x (id INT PRIMARY KEY, body TEXT NOT NULL)")
        let insert = "INSERT INTO x (id, body) VALUES ($1, $2)"
        let secret = "top-secret-bound-value"
        try connection.query(insert, [.integer(1), .text(secret)])
        let duplicate = databaseError { try connection.query(insert, [.integer(1), .text(secret)]) }
        XCTAssertEqual(duplicate?.kind, .statementFailed)
        XCTAssertEqual(duplicate?.sqlState, "23505")
        XCTAssertEqual(duplicate?.sql, insert)
        XCTAssertTrue(duplicate?.message.contains("duplicate key") ?? false, "\(String(describing: duplicate))")
        XCTAssertFalse("\(String(describing: duplicate))".contains(secret))

        let cast = "SELECT $1::int"
        let badInput = databaseError { try connection.query(cast, [.text(secret)]) }
        XCTAssertEqual(badInput?.sqlState, "22P02")
        XCTAssertEqual(badInput?.sql, cast)
        XCTAssertFalse("\(String(describing: badInput))".contains(secret), "\(String(describing: badInput))")

        let syntax = databaseError { try connection.executeScript("SELEC 1") }
        XCTAssertEqual(syntax?.sqlState, "42601")
        XCTAssertEqual(syntax?.sql, "SELEC 1")
        let wrongCount = databaseError { try connection.query("SELECT $1::int + $2::int", [.integer(1)]) }
        XCTAssertEqual(wrongCount?.kind, .statementFailed, "a wrong parameter count is not a lost connection")
        XCTAssertTrue(connection.isUsable, "a statement error leaves the connection usable")
        XCTAssertEqual(try connection.query("SELECT body FROM x", []), [[.text(secret)]])
    }

    /// Lock and serialization conflicts are `busy` (worth retrying), not statement failures.
    func testLockTimeoutIsBusy() throws {
        let holder = try connect()
        let waiter = try connect()
        try holder.executeScript("CREATE TABLE x (id INT)")
        try holder.executeScript("BEGIN; LOCK TABLE x IN ACCESS EXCLUSIVE MODE")
        defer { try? holder.executeScript("ROLLBACK") }
        try waiter.executeScript("SET lock_timeout = '50ms'")
        let error = databaseError { try waiter.query("SELECT count(*) FROM x", []) }
        XCTAssertEqual(error?.sqlState, "55P03")
        XCTAssertEqual(error?.kind, .busy)
        XCTAssertTrue(waiter.isUsable)
    }

    /// A backend killed by `pg_terminate_backend` is reported as `connectionLost` on the next call, and the
    /// connection says it is no longer usable (so the pool replaces it).
    func testTerminatedBackendIsConnectionLost() throws {
        let victim = try connect()
        let killer = try connect()
        try terminateBackend(of: victim, using: killer)
        XCTAssertTrue(victim.isUsable, "nothing has told the client yet")
        let error = databaseError { try victim.query("SELECT 1", []) }
        XCTAssertEqual(error?.kind, .connectionLost)
        XCTAssertFalse(victim.isUsable)
        XCTAssertTrue(error?.isTransient ?? false)
        // Later calls keep failing the same way rather than crashing.
        XCTAssertEqual(databaseError { try victim.executeScript("SELECT 1") }?.kind, .connectionLost)
        XCTAssertTrue(killer.isUsable)
    }

    /// A connection that cannot be made names the host, port and database, and never the password.
    func testConnectFailureNamesHostButNotPassword() throws {
        let password = "hunter2-Sup3rSecret"
        let closedPort = try Self.closedPort()
        let error = databaseError {
            _ = try PostgresConnection(uri: "postgres://someone:\(password)@127.0.0.1:\(closedPort)/nowhere_db")
        }
        XCTAssertEqual(error?.kind, .connectFailed)
        let text = "\(String(describing: error))"
        XCTAssertTrue(text.contains("127.0.0.1"), text)
        XCTAssertTrue(text.contains("\(closedPort)"), text)
        XCTAssertTrue(text.contains("nowhere_db"), text)
        XCTAssertFalse(text.contains(password), text)
        XCTAssertFalse(text.contains("\n"), "one line: \(text)")
    }

    /// The default `connect_timeout` is its own keyword, added only when the URL has none — never appended
    /// to a URL, where a `?` in the password would make it part of the database name.
    func testConnectTimeoutIsAddedWhenAbsent() throws {
        let cases: [(String, [String])] = [
            ("postgres://u@h/db", ["user=u", "host=h", "dbname=db", "connect_timeout=5"]),
            ("postgres://u:p?w@h/db", ["user=u", "password=p?w", "host=h", "dbname=db", "connect_timeout=5"]),
            ("postgresql://h/db?sslmode=disable", ["host=h", "dbname=db", "sslmode=disable", "connect_timeout=5"]),
            ("postgres://h/db?connect_timeout=1", ["host=h", "dbname=db", "connect_timeout=1"]),
        ]
        for (uri, expected) in cases {
            let keywords = try PostgresConnectionParameters(parsing: uri).libpqKeywords(defaultConnectTimeout: 5)
            XCTAssertEqual(keywords.map { "\($0.key)=\($0.value)" }, expected, uri)
        }
        let parsed = try PostgresConnection.parseConnectionString("host=h dbname=db password=sekrit")
        XCTAssertEqual(parsed.host, "h")
        XCTAssertEqual(parsed.password, "sekrit")
        XCTAssertFalse(parsed.redacted.contains("sekrit"), parsed.redacted)
    }

    /// A server's refusal keeps its SQLSTATE: the database that does not exist is 3D000 and needs a person,
    /// not a retry; the message stays one line without the code spliced in.
    func testRefusalByServerCarriesSQLStateAndIsNotRetryable() throws {
        let other = try PostgresConnectionParameters(parsing: uri)
        var keywords = other.keywords
        keywords.removeAll { $0.key == "dbname" }
        keywords.append(("dbname", "no_such_db_\(getpid())"))
        let error = databaseError { _ = try PostgresConnection(parameters: PostgresConnectionParameters(keywords: keywords)) }
        XCTAssertEqual(error?.sqlState, "3D000")
        XCTAssertEqual(error?.requiresIntervention, true)
        XCTAssertEqual(error?.healsByWaiting, false)
        let message = error?.message ?? ""
        XCTAssertTrue(message.contains("database \"no_such_db_"), message)
        XCTAssertFalse(message.contains("3D000") || message.contains("LOCATION") || message.contains("\n"), message)
    }

    /// A refused connection (nothing listening) can heal by waiting.
    func testRefusedConnectionHealsByWaiting() throws {
        let error = databaseError { _ = try PostgresConnection(uri: "postgres://u@127.0.0.1:\(try Self.closedPort())/db") }
        XCTAssertEqual(error?.healsByWaiting, true, "\(String(describing: error))")
        XCTAssertNil(error?.sqlState)
    }

    /// Servers started together migrate one after the other: four migrators racing on a fresh database all
    /// succeed, and every migration is applied once. (Before: two servers started at once on an empty
    /// database failed with `duplicate key value violates unique constraint "pg_type_typname_nsp_index"`.)
    func testMigratorsStartedTogetherTakeTurns() throws {
        let migrator = Migrator(dialect: .postgres)
        let outcomes = NIOLockedValueBox<[Result<Int, DatabaseError>]>([])
        let uri = self.uri
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            // Each on a connection of its own, opened on its own thread.
            let result = Result { () throws(DatabaseError) -> Int in
                try migrator.migrate(try PostgresConnection(uri: uri)).applied.count
            }
            outcomes.withLockedValue { $0.append(result) }
        }
        let applied = try outcomes.withLockedValue { $0 }.map { try $0.get() }
        XCTAssertEqual(applied.reduce(0, +), migrator.migrations.count, "each migration once: \(applied)")
        XCTAssertEqual(applied.filter { $0 > 0 }.count, 1, "\(applied)")
    }

    /// The PostgreSQL migrations apply, a second run applies nothing, and a tampered checksum is refused.
    func testMigratorAppliesIsIdempotentAndRefusesTamperedChecksum() throws {
        let connection = try connect()
        let migrator = Migrator(dialect: .postgres)
        XCTAssertFalse(migrator.migrations.isEmpty)

        let first = try migrator.migrate(connection)
        XCTAssertEqual(first.applied, migrator.migrations)
        XCTAssertEqual(first.alreadyApplied, 0)
        let tables = try connection.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name", [])
        XCTAssertEqual(tables.compactMap { $0.first?.string }, [
            "bans", "cluster_payloads", "connection_minutes", "connections", "database_identity", "history_progress",
            "message_hours", "messages", "moderation_log", "moderation_version", "motd", "mutes", "nickname_last_said",
            "nicknames", "operators", "registered_nicknames", "schema_migrations", "server_visits", "servers",
            "visitor_counter",
        ])
        let recorded = try connection.query("SELECT version, checksum FROM schema_migrations ORDER BY version", [])
        XCTAssertEqual(recorded.compactMap { $0[1].string }, try MigrationFile.all(dialect: "postgres").map(\.sha256))

        let second = try migrator.migrate(connection)
        XCTAssertEqual(second.applied, [])
        XCTAssertEqual(second.alreadyApplied, migrator.migrations.count)

        try connection.query("UPDATE schema_migrations SET checksum = 'x'", [])
        let error = databaseError { _ = try migrator.migrate(connection) }
        XCTAssertEqual(error?.kind, .migrationMismatch)
    }

    /// `transaction` commits on return and rolls back on throw.
    func testTransactionCommitsAndRollsBack() throws {
        let connection = try connect()
        try connection.executeScript("CREATE TABLE x (id INT PRIMARY KEY)")
        _ = try connection.transaction { connection throws(DatabaseError) in
            try connection.query("INSERT INTO x (id) VALUES ($1)", [.integer(1)])
        }
        let error = databaseError {
            try connection.transaction { connection throws(DatabaseError) in
                try connection.query("INSERT INTO x (id) VALUES ($1)", [.integer(2)])
                try connection.query("INSERT INTO x (id) VALUES ($1)", [.integer(1)])
            }
        }
        XCTAssertEqual(error?.sqlState, "23505")
        XCTAssertEqual(try connection.query("SELECT id FROM x ORDER BY id", []), [[.text("1")]])
    }

    /// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
    private static func closedPort() throws -> Int { try FreePort.tcp() }
}
