import Foundation
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Real sockets and real databases, as a telnet user and an operator see it: the chat on an in-process
/// server; signals, SIGKILL recovery and the CLI on the real binary.
final class ChatEndToEndTests: XCTestCase {
    /// Two clients chat through every contract line; history shows both after they quit and after a
    /// restart; `/history` and `/seen` read back what the previous process wrote.
    func testTwoClientsChatAndHistorySurvivesARestart() async throws {
        try await forEachBackend { database, _ in
            let server = try await InProcessServer.start(database: database, for: self)
            let (alice, aliceWelcome) = try server.join()
            XCTAssertTrue(aliceWelcome.hasSuffix("1 client connected (you are visitor #1). Type /help for commands."), aliceWelcome)
            let (bob, bobWelcome) = try server.join()
            XCTAssertTrue(bobWelcome.contains("2 clients connected (you are visitor #2)"), bobWelcome)
            alice.expect("* guest2 joined (2 clients connected)")

            alice.send("/nick alice\r\n")
            alice.expect("* guest1 is now known as alice")
            bob.expect("* guest1 is now known as alice")
            bob.send("/nick bob\r\nhello alice\r\n/me waves\r\n")
            bob.expect("* guest2 is now known as bob")
            alice.expect("* guest2 is now known as bob")
            alice.expect("<bob> hello alice")
            alice.expect("* bob waves")
            alice.send("/msg bob psst\r\n/who\r\n/count\r\n/seen bob\r\n/nosuch\r\n")
            bob.expect("*alice* psst")
            alice.expect("-> bob: psst")
            alice.expect("* 2 connected: alice, bob")
            alice.expect("* 2 clients connected, 2 visits in total")
            alice.expect("* bob is online now")
            alice.expect("! unknown command /nosuch (try /help)")
            alice.send("/history\r\n")
            let history = alice.readLines(until: { $0 == "* end of history" })
            XCTAssertEqual(history.count, 3, "\(history)")
            XCTAssertTrue(history[0].hasSuffix("] <bob> hello alice"), "\(history)")
            XCTAssertTrue(history[1].hasSuffix("] * bob waves"), "\(history)")
            alice.send("/quit see you\r\n")
            XCTAssertEqual(alice.readUntilClosed(), ["* bye"])
            bob.expect("* alice left (see you) (1 client connected)")
            bob.send("/quit\r\n")
            XCTAssertEqual(bob.readUntilClosed(), ["* bye"])

            // The rows are there while the server still runs (written in the background; it is stopped only
            // after they are read)...
            let rows = try await server.waitForHistory { rows in
                rows.count == 2 && rows.allSatisfy { $0["disconnected_at"] is String }
            }
            await server.stop()
            XCTAssertEqual(rows.count, 2)
            XCTAssertEqual(rows.map { $0["nickname"] as? String }, ["bob", "alice"], "newest first")
            XCTAssertEqual(rows.map { $0["close_reason"] as? String }, ["quit", "quit: see you"])
            XCTAssertEqual(rows.map { $0["id"] as? Int }, [2, 1])
            XCTAssertEqual(rows[1]["lines_in"] as? Int, 8, "alice sent 8 lines")
            XCTAssertTrue((rows[1]["connected_at"] as? String)?.hasSuffix("Z") ?? false)
            XCTAssertNotNil(rows[1]["disconnected_at"] as? String)
            XCTAssertGreaterThan(rows[1]["bytes_out"] as? Int ?? 0, 0)

            // ...and after a restart.
            let again = try await InProcessServer.start(database: database, for: self)
            let (carol, carolWelcome) = try again.join()
            XCTAssertTrue(carolWelcome.contains("(you are visitor #3)"), carolWelcome)
            // --history-on-join (10 by default): the last public lines, from the previous process's database.
            let replayed = carol.readLines(until: { $0 == "* end of history" })
            XCTAssertEqual(replayed.count, 3, "\(replayed)")
            XCTAssertTrue(replayed.first?.hasSuffix("] <bob> hello alice") == true, "\(replayed)")
            XCTAssertTrue(replayed.dropFirst().first?.hasSuffix("] * bob waves") == true, "\(replayed)")
            carol.send("/history 1\r\n/seen ALICE\r\n/count\r\n")
            let last = carol.readLines(until: { $0 == "* end of history" })
            XCTAssertEqual(last.count, 2)
            XCTAssertTrue(last[0].hasSuffix("] * bob waves"), "\(last)")
            let seen = carol.readLine() ?? ""
            XCTAssertTrue(seen.hasPrefix("* alice was last seen ") && seen.hasSuffix(" UTC"), seen)
            carol.expect("* 1 client connected, 3 visits in total")
            await again.stop()
        }
    }

    /// SIGTERM and SIGINT stop alike: the listeners close first, clients get `* server shutting down`,
    /// every open row is closed as `server shutdown`, chat lines still queued are written, exit 0.
    ///
    /// The database is held locked from just before the last line until after the clients are closed, so
    /// the line is still queued when the signal comes and the server is still running (waiting to write
    /// it) while the test checks that nobody can connect any more.
    func testQuitRightAfterHistoryGetsTheHistoryThenBye() async throws {
        // `/history` is answered from the database later; the `/quit` after it waited for nothing and closed
        // the connection first, so the client got neither the history nor `* bye`.
        let directory = try makeTemporaryDirectory()
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/q.sqlite", for: self)
        let (client, _) = try server.join()
        client.send("hello\r\n/history 5\r\n/quit\r\nnot said\r\n")
        let lines = client.readUntilClosed()
        XCTAssertEqual(lines.count, 3, "\(lines)")
        XCTAssertTrue(lines.first?.hasSuffix("] <guest1> hello") == true, "\(lines)")
        XCTAssertEqual(lines.dropFirst(), ["* end of history", "* bye"])
        await server.stop()
    }

    func testStopSignalsClosesListenersFirstTellsClientsAndWritesQueuedLines() throws {
        for signal in [SIGTERM, SIGINT] {
            try forEachBackend { database, directory in
                let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
                let server = try ServerProcess.serve(
                    database: database, in: directory, extraArguments: ["--shutdown-timeout", "20"])
                let (alice, _) = try joinClient(server)
                let (bob, _) = try joinClient(server)
                alice.expect("* guest2 joined (2 clients connected)")

                let locker = try directConnection(database)
                try locker.executeScript(
                    locker.dialect == .sqlite
                        ? "BEGIN EXCLUSIVE" : "BEGIN; LOCK TABLE connections, messages IN ACCESS EXCLUSIVE MODE")
                alice.send("one last line\r\n")
                bob.expect("<guest1> one last line")
                kill(server.pid, signal)
                XCTAssertEqual(alice.readUntilClosed(), ["* server shutting down"], name)
                XCTAssertEqual(bob.readUntilClosed(), ["* server shutting down"], name)

                // The server is still running (its history waits for the lock), and its listener is gone.
                XCTAssertTrue(server.process.isRunning, "\(name): the server must still be writing history")
                XCTAssertThrowsError(try LineClient(port: server.port, timeout: 2), "\(name): the listener is closed") {
                    XCTAssertEqual(($0 as? POSIXError)?.code, .ECONNREFUSED, "\(name): \($0)")
                }
                XCTAssertTrue(server.process.isRunning, "\(name): checked while the server was running")

                try locker.executeScript("ROLLBACK")
                XCTAssertEqual(server.waitForExit(timeout: 30), 0, "\(name): \(server.diagnosis)")
                let said = try locker.query("SELECT nickname, body FROM messages", [])
                XCTAssertEqual(said.map { $0.map(\.string) }, [["guest1", "one last line"]], "\(name): the queued line")
                let rows = try historyJSON(database, in: directory)
                XCTAssertEqual(rows.map { $0["close_reason"] as? String }, ["server shutdown", "server shutdown"], name)
                XCTAssertTrue(rows.allSatisfy { $0["disconnected_at"] is String }, "\(name): \(rows)")
            }
        }
    }

    /// SIGKILL leaves rows open; the next start after `--server-timeout` closes them as `server stopped
    /// unexpectedly` (at once on SQLite, which sees the process is gone).
    func testRowsLeftOpenByAKilledServerAreClosedAtStart() throws {
        try forEachBackend { database, directory in
            let server = try ServerProcess.serve(database: database, in: directory, extraArguments: ["--server-timeout", "1"])
            let (alice, _) = try joinClient(server)
            // The welcome no longer waits for the row (its number was reserved in advance): the row is written
            // with the next batch, within the linger time. Wait for it, then kill.
            let open = try waitForHistory(database, in: directory) { $0.count == 1 }
            XCTAssertTrue(open.first?["disconnected_at"] is NSNull, "\(open)")
            server.kill()
            withExtendedLifetime(alice) {}  // connected until the kill
            try waitUntilHeartbeatIsOld(database, pid: server.process.processIdentifier, seconds: 1)
            let again = try ServerProcess.serve(database: database, in: directory, extraArguments: ["--server-timeout", "1"])
            XCTAssertEqual(again.terminate(), 0)
            let rows = try historyJSON(database, in: directory)
            XCTAssertEqual(rows.first?["close_reason"] as? String, "server stopped unexpectedly")
        }
    }

    /// `switchboard history` prints an aligned table, newest first; `migrate` reports what it did.
    func testHistoryTableAndMigrateCommand() async throws {
        let directory = try makeTemporaryDirectory()
        let database = "sqlite:\(directory.path)/h.sqlite"
        let migrate = try runSwitchboard(["migrate", "--database", database], in: directory)
        XCTAssertEqual(migrate.status, 0, migrate.errors)
        XCTAssertTrue(migrate.output.contains("applied 1 create_connections_and_messages"), migrate.output)
        let again = try runSwitchboard(["migrate", "--database", database], in: directory)
        XCTAssertTrue(again.output.contains("up to date"), again.output)

        let server = try await InProcessServer.start(database: database, for: self)  // makes the row to list
        let (client, _) = try server.join()
        client.send("/nick tabby\r\n/quit\r\n")
        _ = client.readUntilClosed()
        await server.stop()
        let table = try runSwitchboard(["history", "--database", database], in: directory)
        XCTAssertEqual(table.status, 0, table.errors)
        let lines = table.output.split(separator: "\n")
        XCTAssertTrue(lines.first?.hasPrefix("ID  PEER") ?? false, table.output)
        XCTAssertTrue(lines.dropFirst().first?.contains("tabby") ?? false, table.output)
        XCTAssertTrue(lines.dropFirst().first?.contains("127.0.0.1:") ?? false, table.output)
    }

    /// A database that does not exist yet is created; the default is `switchboard.sqlite` in the working
    /// directory, and `DATABASE_URL` is honoured.
    func testDefaultDatabaseAndDatabaseURLEnvironment() throws {
        let directory = try makeTemporaryDirectory()
        let server = ServerProcess(arguments: ["serve", "--listen", "tcp:0:interface=127.0.0.1"], workingDirectory: directory)
        try server.process.run()
        try server.waitForLog(containing: "listening")
        XCTAssertEqual(server.terminate(), 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("switchboard.sqlite").path))
        let env = try runSwitchboard(["history"], in: directory, environment: ["DATABASE_URL": "sqlite:other.sqlite"])
        XCTAssertNotEqual(env.status, 0, "other.sqlite does not exist: history must say so")
        XCTAssertTrue(env.errors.contains("no database at other.sqlite"), env.errors)
    }

    /// Bad flags and endpoints get one clear line and a non-zero exit.
    func testBadOptionsAreClearErrors() throws {
        let directory = try makeTemporaryDirectory()
        let ssl = try runSwitchboard(["serve", "--listen", "ssl:8443"], in: directory)
        XCTAssertNotEqual(ssl.status, 0)
        XCTAssertTrue(ssl.errors.contains("invalid endpoint 'ssl:8443': ssl needs privateKey=KEY.pem"), ssl.errors)
        let busy = try ServerProcess.serve(database: "sqlite:\(directory.path)/a.sqlite", in: directory)
        let taken = try runSwitchboard(
            ["serve", "--listen", "tcp:\(busy.port):interface=127.0.0.1", "--database", "sqlite:\(directory.path)/b.sqlite"],
            in: directory)
        XCTAssertEqual(taken.status, 1)
        XCTAssertTrue(taken.errors.contains("cannot listen on tcp:127.0.0.1:\(busy.port): Address already in use"), taken.errors)
        XCTAssertEqual(busy.terminate(), 0)
        let db = try runSwitchboard(["serve", "--database", "mysql://x"], in: directory)
        XCTAssertNotEqual(db.status, 0)
        XCTAssertTrue(db.errors.contains("unsupported database URL"), db.errors)
    }

    /// No password from a database URL appears in logs or errors, and the host is named.
    func testPasswordNeverAppearsInLogsOrErrors() throws {
        let directory = try makeTemporaryDirectory()
        let secret = "s3cr3t-hunter2"
        let closedPort = 1  // nothing listens on port 1
        let result = try runSwitchboard(
            ["serve", "--database", "postgres://chat:\(secret)@127.0.0.1:\(closedPort)/chat", "--db-connect-timeout", "1",
             "--listen", "tcp:0:interface=127.0.0.1"], in: directory)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertFalse(result.errors.contains(secret), result.errors)
        XCTAssertFalse(result.output.contains(secret), result.output)
        XCTAssertTrue(result.errors.contains("127.0.0.1"), result.errors)
        XCTAssertTrue(result.errors.contains("chat:***@"), result.errors)
        let history = try runSwitchboard(
            ["history", "--database", "postgres://chat:\(secret)@127.0.0.1:\(closedPort)/chat", "--db-connect-timeout", "0"],
            in: directory)
        // It must fail for the reason under test (the connection), not for any reason at all.
        XCTAssertEqual(history.status, 1, history.errors)
        XCTAssertTrue(history.errors.contains("connect failed"), history.errors)
        XCTAssertTrue(history.errors.contains("chat:***@127.0.0.1:\(closedPort)/chat"), history.errors)
        XCTAssertFalse(history.errors.contains(secret) || history.output.contains(secret), history.errors)
    }

    /// In debug builds a sqlite3 call on an event loop thread traps (the guard is a check, not a promise).
    func testSQLiteCallOnAnEventLoopTrapsInDebugBuilds() throws {
        #if DEBUG
        let directory = try makeTemporaryDirectory()
        let result = try runSwitchboard(["debug-loop-guard-selftest", "--path", directory.appendingPathComponent("t.sqlite").path], in: directory)
        XCTAssertTrue(result.signaled, "expected a trap, got status \(result.status): \(result.output)")
        XCTAssertTrue(result.errors.contains("blocking call 'sqlite3_open_v2' made on event loop thread"), result.errors)
        XCTAssertTrue(result.errors.contains("run it on the DatabasePool instead"), result.errors)
        #else
        throw TestEnvironment.unavailable(
            "the event loop guard is compiled into debug builds only", providedByTestCommand: true)
        #endif
    }
}
