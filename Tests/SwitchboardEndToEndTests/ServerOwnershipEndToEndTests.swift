import Foundation
import SwitchboardTestSupport
import XCTest

/// Servers own their rows (issue 12): two servers on one database never close each other's connections.
/// SQLite refuses a second live server; PostgreSQL lets them share, and repairs a dead server's rows only
/// once its heartbeat is older than `--server-timeout`.
final class ServerOwnershipEndToEndTests: XCTestCase {
    /// The open rows' nicknames, from `switchboard history --json`.
    private func openNicknames(_ database: String, in directory: URL) throws -> Set<String> {
        Set(try historyJSON(database, in: directory).filter { $0["disconnected_at"] is NSNull }
            .compactMap { $0["nickname"] as? String })
    }

    /// Joins a client to `server` and waits until its row is written (`/history` waits for queued history);
    /// returns it with its guest nickname, the name its open row has.
    private func join(_ server: ServerProcess) throws -> (LineClient, String) {
        let (client, welcome) = try joinClient(server)
        client.send("/history 1\r\n")
        _ = client.readLines(until: { $0 == "* end of history" })
        return (client, nickname(fromWelcome: welcome))
    }

    /// Whether `client` still gets answers: `/count` is answered.
    private func answers(_ client: LineClient) -> Bool {
        client.send("/count\r\n")
        return client.readLines(until: { $0.contains(" in total") }).last?.contains(" in total") == true
    }

    /// SQLite: B on A's file is refused in one line naming A (host, pid, since when) and PostgreSQL, exit
    /// status 1; A's client's row stays open and A keeps serving; `history` and `migrate` work beside A.
    /// (Before: B started and closed A's live row as `server stopped unexpectedly`.)
    func testSecondServerOnASQLiteFileInUseIsRefused() throws {
        let directory = try makeTemporaryDirectory()
        let database = "sqlite:\(directory.path)/h.sqlite"
        let a = try ServerProcess.serve(database: database, in: directory)
        defer { a.kill() }
        let (alice, aliceNick) = try join(a)

        let b = try runSwitchboardBounded(
            ["serve", "--listen", "tcp:0:interface=127.0.0.1", "--database", database], in: directory, deadline: 30)
        XCTAssertEqual(b.status, 1, b.output)
        let refusal = b.output.split(separator: "\n").filter { $0.contains("in use by another server") }
        XCTAssertEqual(refusal.count, 1, b.output)
        let line = String(refusal.first ?? "")
        XCTAssertTrue(line.contains("pid \(a.process.processIdentifier)"), line)
        XCTAssertNotNil(line.range(of: #"host [^ ,]+, pid"#, options: .regularExpression), line)
        XCTAssertTrue(line.contains("running since 20"), line)
        XCTAssertTrue(line.contains("PostgreSQL"), line)
        XCTAssertFalse(b.output.contains("listening"), b.output)

        XCTAssertEqual(try openNicknames(database, in: directory), [aliceNick], "A's client's row is still open")
        XCTAssertTrue(answers(alice), "A still serves")
        let (bob, bobNick) = try join(a)
        bob.send("hi\r\n")
        XCTAssertEqual(alice.readLines(until: { $0.hasPrefix("<") }).last, "<\(bobNick)> hi")
        let migrate = try runSwitchboard(["migrate", "--database", database], in: directory)
        XCTAssertEqual(migrate.status, 0, migrate.errors)
        XCTAssertEqual(try openNicknames(database, in: directory), [aliceNick, bobNick])
    }

    /// PostgreSQL: A and B share the database; B's start closes none of A's rows. A SIGKILLed: B, the
    /// survivor, closes A's row (`server lost`) and never its own. B SIGKILLed too: the next start after its
    /// heartbeat is `--server-timeout` old closes B's row (and says so). (Before: every start closed every
    /// open row.)
    func testServersSharingPostgreSQLOwnTheirRows() throws {
        let postgres = try TestDatabases.requirePostgres()
        defer { postgres.drop() }
        let database = postgres.cliURL
        let directory = try makeTemporaryDirectory()
        let timeout = ["--server-timeout", "1"]
        let a = try ServerProcess.serve(database: database, in: directory, extraArguments: timeout)
        defer { a.kill() }
        let (alice, aliceNick) = try join(a)
        let b = try ServerProcess.serve(database: database, in: directory, extraArguments: timeout)
        defer { b.kill() }
        XCTAssertFalse(b.logText.contains("closed connections left open"), b.logText)
        XCTAssertEqual(try openNicknames(database, in: directory), [aliceNick], "B's start left A's row open")
        XCTAssertTrue(answers(alice), "A still serves")
        let (bob, bobNick) = try join(b)
        defer { bob.close() }
        XCTAssertEqual(try openNicknames(database, in: directory), [aliceNick, bobNick])

        // A is SIGKILLed while B runs: B, its survivor (cluster mode), closes A's row as `server lost` once
        // A's heartbeat is --server-timeout old; B's own row stays open.
        a.kill()
        let rows = try waitForHistory(database, in: directory) { rows in
            rows.contains { $0["nickname"] as? String == aliceNick && $0["close_reason"] as? String == "server lost" }
        }
        XCTAssertEqual(rows.first { $0["nickname"] as? String == bobNick }?["disconnected_at"] is NSNull, true)

        // Then B is SIGKILLed with no server left: the next start after its heartbeat is old closes its row.
        let killedPid = b.process.processIdentifier
        b.kill()
        try waitUntilHeartbeatIsOld(database, pid: killedPid, seconds: 2)
        let c = try ServerProcess.serve(database: database, in: directory, extraArguments: timeout)
        defer { c.kill() }
        XCTAssertTrue(c.logText.contains("count=1"), c.logText)
        XCTAssertTrue(c.logText.contains("closed connections left open by servers that stopped unexpectedly"), c.logText)
        XCTAssertEqual(try openNicknames(database, in: directory), [], "B's row closed at C's start")
        let bobRow = try historyJSON(database, in: directory).first { $0["nickname"] as? String == bobNick }
        XCTAssertEqual(bobRow?["close_reason"] as? String, "server stopped unexpectedly")
        XCTAssertEqual(c.terminate(), 0)
        withExtendedLifetime((alice, bob)) {}
    }

    /// PostgreSQL: a start while a SIGKILLed server's heartbeat is still fresh leaves its rows open (it
    /// cannot tell it from a live one); they are closed by a start after `--server-timeout`.
    func testAFreshHeartbeatProtectsRowsOnPostgreSQL() throws {
        let postgres = try TestDatabases.requirePostgres()
        defer { postgres.drop() }
        let database = postgres.cliURL
        let directory = try makeTemporaryDirectory()
        let a = try ServerProcess.serve(database: database, in: directory)  // default --server-timeout 15
        let (alice, aliceNick) = try join(a)
        defer { alice.close() }
        a.kill()
        let b = try ServerProcess.serve(database: database, in: directory)
        XCTAssertFalse(b.logText.contains("closed connections left open"), b.logText)
        XCTAssertEqual(b.terminate(), 0)
        XCTAssertEqual(try openNicknames(database, in: directory), [aliceNick])
    }

    /// A graceful stop sets `stopped_at` (and the server's rows are closed as `server shutdown`); the
    /// server's rows record its id.
    func testGracefulStopSetsStoppedAt() throws {
        try forEachBackend { database, directory in
            let server = try ServerProcess.serve(database: database, in: directory)
            let (alice, _) = try join(server)
            defer { alice.close() }
            let pid = Int64(server.process.processIdentifier)
            XCTAssertEqual(server.terminate(), 0)
            let connection = try directConnection(database)
            let p = database.hasPrefix("sqlite:") ? "?1" : "$1"
            let servers = try connection.query(
                "SELECT id, CASE WHEN stopped_at IS NULL THEN 0 ELSE 1 END FROM servers WHERE pid = \(p)", [.integer(pid)])
            XCTAssertEqual(servers.count, 1)
            XCTAssertEqual(servers.first?.last?.int64, 1, "stopped_at is set")
            let owners = try connection.query("SELECT server_id, close_reason FROM connections", [])
            XCTAssertEqual(owners.first?.first?.int64, servers.first?.first?.int64)
            XCTAssertEqual(owners.first?.last?.string, "server shutdown")
        }
    }
}

extension XCTestCase {
    /// Waits (bounded, polling the database) until the heartbeat of the server with process id `pid` is
    /// older than `seconds` by the database's own clock.
    func waitUntilHeartbeatIsOld(
        _ database: String, pid: Int32, seconds: Int, timeout: TimeInterval = 20, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let connection = try directConnection(database)
        let sql = database.hasPrefix("sqlite:")
            ? "SELECT id FROM servers WHERE pid = ?1 AND heartbeat_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-\(seconds) seconds')"
            : "SELECT id FROM servers WHERE pid = $1 AND heartbeat_at < now() - interval '\(seconds) seconds'"
        let deadline = Date().addingTimeInterval(timeout)
        while try connection.query(sql, [.integer(Int64(pid))]).isEmpty {
            guard Date() < deadline else {
                XCTFail("the heartbeat of pid \(pid) did not become \(seconds) s old within \(timeout) s", file: file, line: line)
                return
            }
            usleep(100_000)
        }
    }
}
