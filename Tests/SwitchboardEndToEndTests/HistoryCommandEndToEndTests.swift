import Foundation
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase

#if canImport(Glibc)
import Glibc
#endif

/// `switchboard history` is read-only, and what the server records about nicknames reads right.
final class HistoryCommandEndToEndTests: XCTestCase {
    /// The bytes and modification time of a file: root ignores permissions, so "nothing was written" is
    /// checked on the file itself.
    private struct FileSnapshot: Equatable {
        var bytes: Data
        var modified: Int
        var modifiedNanoseconds: Int

        init(_ path: String) throws {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            var info = stat()
            guard stat(path, &info) == 0 else { throw POSIXError(.ENOENT) }
            modified = info.st_mtim.tv_sec
            modifiedNanoseconds = info.st_mtim.tv_nsec
        }
    }

    /// Makes `directory` and `file` read-only (0555 / 0444) until the test ends.
    private func makeReadOnly(directory: URL, file: String) {
        chmod(file, 0o444)
        chmod(directory.path, 0o555)
        addTeardownBlock {
            chmod(directory.path, 0o755)
            chmod(file, 0o644)
        }
    }

    /// On a SQLite database left with un-checkpointed WAL frames (the server was killed) in a read-only
    /// directory, `history` lists the rows, the open connection's counters as `null`, and leaves the
    /// database file byte-for-byte and mtime unchanged (a read-write open would checkpoint the WAL into it).
    func testHistoryReadsSQLiteWithoutWritingTheFile() throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("history.sqlite").path
        let server = try ServerProcess.serve(database: "sqlite:\(path)", in: directory)
        let (alice, _) = try joinClient(server)
        alice.send("/nick alice\r\n")
        alice.expect("* guest1 is now known as alice")
        alice.send("/quit\r\n")
        _ = alice.readUntilClosed()
        let (bob, _) = try joinClient(server)
        bob.send("/history\r\n")  // waits until the history is written
        _ = bob.readLines(until: { $0 == "* end of history" })
        server.kill()  // no checkpoint: the rows are in the WAL only
        XCTAssertTrue(FileManager.default.fileExists(atPath: path + "-wal"), "the killed server left its WAL")

        makeReadOnly(directory: directory, file: path)
        let before = try FileSnapshot(path)
        let result = try runSwitchboard(["history", "--json", "--database", "sqlite:\(path)"], in: directory)
        XCTAssertEqual(result.status, 0, result.errors)
        let rows = try result.output.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(rows.count, 2, result.output)
        let open = try XCTUnwrap(rows.first)  // newest first: bob, killed while connected
        XCTAssertTrue(open["disconnected_at"] is NSNull, "\(open)")
        for key in ["lines_in", "lines_out", "bytes_in", "bytes_out"] {
            XCTAssertTrue(open[key] is NSNull, "\(key) of an open connection is not known yet: \(open)")
        }
        XCTAssertEqual(rows.last?["nickname"] as? String, "alice")
        XCTAssertEqual(rows.last?["lines_in"] as? Int, 2)

        let table = try runSwitchboard(["history", "--database", "sqlite:\(path)"], in: directory)
        XCTAssertEqual(table.status, 0, table.errors)
        XCTAssertTrue(table.output.contains("–/–"), "open connection's counters in the table:\n\(table.output)")
        XCTAssertEqual(try FileSnapshot(path), before, "history must not write the database file")
    }

    /// A database no Switchboard has migrated is refused in one line, non-zero, and stays untouched
    /// (SQLite: an empty file; PostgreSQL: an empty database, where no `schema_migrations` is created).
    func testHistoryRefusesADatabaseWithoutTheSchema() throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("empty.sqlite").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        makeReadOnly(directory: directory, file: path)
        let result = try runSwitchboard(["history", "--database", "sqlite:\(path)"], in: directory)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(
            result.errors,
            "switchboard: database sqlite:\(path) has no Switchboard schema yet: run 'switchboard migrate' or start the server\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)).count, 0, "the empty file stays empty")

        let database = try TestDatabases.requirePostgres()
        defer { database.drop() }
        guard case .postgres(let parameters) = database.url else { return XCTFail("not PostgreSQL: \(database)") }
        let uri = parameters.uri
        let pg = try runSwitchboard(["history", "--database", uri], in: directory)
        XCTAssertNotEqual(pg.status, 0)
        XCTAssertTrue(pg.errors.contains("has no Switchboard schema yet: run 'switchboard migrate' or start the server"), pg.errors)
        XCTAssertEqual(pg.errors.split(separator: "\n").count, 1, pg.errors)
        let connection = try PostgresConnection(uri: uri)
        let tables = try connection.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", [])
        XCTAssertEqual(tables.first?.first?.int64, 0, "history created nothing")
    }

    /// On PostgreSQL, a role that may only SELECT can run `history` (no DDL, no writes).
    func testHistoryNeedsOnlySelectOnPostgres() throws {
        let database = try TestDatabases.requirePostgres()
        guard case .postgres(let parameters) = database.url else { return XCTFail("not PostgreSQL: \(database)") }
        let uri = parameters.uri
        let directory = try makeTemporaryDirectory()
        let migrated = try runSwitchboard(["migrate", "--database", uri], in: directory)
        XCTAssertEqual(migrated.status, 0, migrated.errors)
        let role = "reader_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try PostgresConnection(uri: uri)
        try admin.executeScript("""
            CREATE ROLE \(role) LOGIN;
            GRANT SELECT ON connections, messages, schema_migrations TO \(role);
            INSERT INTO connections (peer, nickname, connected_at) VALUES ('127.0.0.1:1', 'dora', now());
            """)
        defer {
            database.drop()
            try? admin.executeScript("DROP ROLE IF EXISTS \(role)")
        }
        // Another user on the same server and database (the URI's own user, if any, replaced).
        var components = try XCTUnwrap(URLComponents(string: uri), uri)
        components.user = role
        components.password = nil
        let readerURI = try XCTUnwrap(components.string)
        let result = try runSwitchboard(["history", "--json", "--database", readerURI], in: directory)
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssertTrue(result.output.contains("\"nickname\":\"dora\""), result.output)
        XCTAssertTrue(result.output.contains("\"lines_in\":null"), result.output)
    }

    /// `/seen alice` answers with the stored spelling: `* Alice was last seen … UTC`.
    func testSeenAnswersWithTheStoredSpelling() async throws {
        try await forEachBackend { database, _ in
            let server = try await InProcessServer.start(database: database, for: self)
            let (alice, _) = try server.join()
            alice.send("/nick Alice\r\n")
            alice.expect("* guest1 is now known as Alice")
            alice.send("/quit\r\n")
            _ = alice.readUntilClosed()
            let (bob, _) = try server.join()
            bob.send("/seen alice\r\n")
            let answer = bob.readLine() ?? "<nothing>"
            XCTAssertTrue(answer.hasPrefix("* Alice was last seen "), answer)
            XCTAssertTrue(answer.hasSuffix(" UTC"), answer)
            await server.stop()
        }
    }

    /// A connection that leaves before its welcome (the database is locked, so the visitor number is
    /// late) is recorded under its row's name `guest<id>`, not an internal key.
    func testConnectionLeavingBeforeItsWelcomeKeepsTheGuestName() async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("history.sqlite").path
        let server = try await InProcessServer.start(database: "sqlite:\(path)", for: self) {
            $0.chat.visitorNumberBlock = 0
        }
        let locker = try SQLiteConnection(path: path)
        try locker.executeScript("BEGIN EXCLUSIVE")
        let early = try LineClient(connectingTo: server.port)
        early.abort()  // RST: gone before the welcome, which waits for the locked database
        let (late, welcome) = try server.join()  // welcomed as #unknown after the wait
        XCTAssertTrue(welcome.contains("#unknown"), welcome)
        try locker.executeScript("ROLLBACK")
        late.send("/history\r\n")  // waits until the queued rows are written
        _ = late.readLines(until: { $0 == "* end of history" }, timeout: 30)
        let rows = try locker.query("SELECT id, nickname, close_reason FROM connections ORDER BY id", [])
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows.first?[1].string, "guest\(rows.first?[0].int64 ?? -1)", "\(rows)")
        XCTAssertNotNil(rows.first?[2].string, "the early leaver's row is closed")
        await server.stop()
    }
}
