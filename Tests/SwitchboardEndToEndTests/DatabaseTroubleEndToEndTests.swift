import Foundation
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase

/// A slow, locked or broken database never slows the chat and loses no history.
final class DatabaseTroubleEndToEndTests: XCTestCase {
    /// Opens a direct connection to the test database (on this test thread, never an event loop).
    private func count(_ table: String, _ connection: any DatabaseConnection) throws -> Int64 {
        try connection.query("SELECT count(*) FROM \(table)", []).first?.first?.int64 ?? -1
    }

    /// While another process holds the database locked (SQLite `BEGIN EXCLUSIVE`, PostgreSQL
    /// `LOCK TABLE … ACCESS EXCLUSIVE`), chat lines still flow, a newcomer is welcomed at once with a visitor
    /// number from the block reserved in advance and replayed the last lines, and every event is written once
    /// the lock is released.
    func testLockedDatabaseNeitherStopsTheChatNorLosesHistory() async throws {
        try await forEachBackend { database, _ in
            let server = try await InProcessServer.start(database: database, for: self) { $0.chat.floodRate = 0 }
            let (alice, _) = try server.join()
            alice.send("before the lock\r\n/count\r\n")
            alice.expect("* 1 client connected, 1 visit in total")  // the line was taken
            let (bob, _) = try server.join()
            // Bob's replay has the line once the server holds the last lines in memory (one read seeds them).
            let seeded = bob.readLines(until: { $0 == "* end of history" })
            XCTAssertTrue(seeded.first?.hasSuffix("] <guest1> before the lock") == true, "\(seeded)")
            _ = alice.readLine()  // bob joined

            let locker = try directConnection(database)
            if locker.dialect == .sqlite {
                try locker.executeScript("BEGIN EXCLUSIVE")
            } else {
                try locker.executeScript("BEGIN; LOCK TABLE connections, messages IN ACCESS EXCLUSIVE MODE")
            }
            for n in 1...50 { alice.send("locked line \(n)\r\n") }
            for n in 1...50 { bob.expect("<guest1> locked line \(n)") }
            let (carol, welcome) = try server.join()
            XCTAssertTrue(welcome.contains("(you are visitor #3)"), welcome)
            // The replay on join comes from memory (seeded when alice joined): the locked database is not asked.
            let replayed = carol.readLines(until: { $0 == "* end of history" })
            XCTAssertEqual(replayed.count, 11, "\(replayed)")
            XCTAssertTrue(replayed.first?.hasSuffix("] <guest1> locked line 41") == true, "\(replayed)")
            XCTAssertTrue(replayed.dropLast().last?.hasSuffix("] <guest1> locked line 50") == true, "\(replayed)")
            carol.send("/count\r\n")
            carol.expect("* 3 clients connected, 3 visits in total")
            alice.send("/quit\r\n")
            _ = alice.readUntilClosed()

            try locker.executeScript("ROLLBACK")
            bob.send("/history 200\r\n")  // waits for the queued events to be written
            let history = bob.readLines(until: { $0 == "* end of history" }, timeout: 30)
            XCTAssertEqual(history.filter { $0.contains("<guest1> locked line") }.count, 50)
            XCTAssertEqual(try count("messages", locker), 51)
            XCTAssertEqual(try count("connections", locker), 3)
            let rows = try locker.query("SELECT id, nickname, close_reason FROM connections ORDER BY id", [])
            XCTAssertEqual(rows.map { $0[2].string }, ["quit", nil, nil])
            XCTAssertEqual(rows.last?[0].int64, 3, "carol's row is written under the number she was welcomed with")
            XCTAssertEqual(rows.last?[1].string, "guest3")
            await server.stop()
        }
    }

    /// Killing the server's PostgreSQL backends mid-chat (`pg_terminate_backend`) loses no history row,
    /// and the server keeps serving.
    func testTerminatedPostgresBackendsLoseNothing() async throws {
        let database = try TestDatabases.requirePostgres()
        defer { database.drop() }
        guard case .postgres(let parameters) = database.url else { return }
        let uri = parameters.uri
        let server = try await InProcessServer.start(database: uri, for: self) { $0.chat.floodRate = 0 }
        let (alice, _) = try server.join()
        let (bob, _) = try server.join()
        _ = alice.readLine()
        let admin = try directConnection(uri)

        var expected = 0
        for round in 1...5 {
            // A read through the pool: when its answer arrives, the server holds a live connection again.
            bob.send("/seen nobody\r\n")
            bob.expect("! never seen nobody")
            for n in 1...40 { alice.send("round \(round) line \(n)\r\n") }
            expected += 40
            let killed = try admin.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                [])
            XCTAssertGreaterThan(killed.count, 0, "the server's pool connections were found and terminated")
            for n in 1...40 { bob.expect("<guest1> round \(round) line \(n)") }
        }
        try server.waitForLog(containing: "database connection lost")
        let (carol, _) = try server.join()  // new connections are still recorded
        carol.send("/quit\r\n")
        _ = carol.readUntilClosed()
        bob.send("/history 200\r\n")
        let history = bob.readLines(until: { $0 == "* end of history" }, timeout: 30)
        XCTAssertEqual(history.filter { $0.contains("<guest1> round ") }.count, expected)
        XCTAssertEqual(try count("messages", admin), Int64(expected), "every line was written exactly once")
        await server.stop()
        let rows = try admin.query("SELECT count(*) FROM connections WHERE close_reason IS NOT NULL", [])
        XCTAssertEqual(rows.first?.first?.int64, 3, "alice, bob and carol are all recorded and closed")
    }
}

extension DatabaseTroubleEndToEndTests {
    /// PostgreSQL stopped under a running server: chat goes on, a newcomer is welcomed as `#unknown` (no
    /// visitor numbers reserved in advance here: `--visitor-number-block 0`, the path a server whose block ran
    /// out takes), and every queued event is written once PostgreSQL is back (adbapi's reconnect, with
    /// nothing lost).
    func testStoppedPostgresIsWaitedForAndNothingIsLost() async throws {
        let cluster = try RestartablePostgresCluster.make()
        let server = try await InProcessServer.start(database: cluster.url, for: self) {
            $0.chat.floodRate = 0
            $0.chat.visitorNumberBlock = 0
        }
        let (alice, _) = try server.join()
        let (bob, _) = try server.join()
        _ = alice.readLine()
        alice.send("before the outage\r\n")
        bob.expect("<guest1> before the outage")

        try cluster.stop()
        for n in 1...20 { alice.send("during the outage \(n)\r\n") }
        for n in 1...20 { bob.expect("<guest1> during the outage \(n)") }
        let (carol, welcome) = try server.join()
        XCTAssertTrue(welcome.contains("(you are visitor #unknown)"), welcome)
        bob.expect("* guest-3 joined (3 clients connected)")
        carol.send("hello from carol\r\n")
        bob.expect("<guest-3> hello from carol")
        alice.send("/quit outage\r\n")
        _ = alice.readUntilClosed()
        try server.waitForLog(containing: "history write failed")

        try cluster.start()
        try server.waitForLog(containing: "history database is back", timeout: 60)
        bob.send("/history 200\r\n")
        let history = bob.readLines(until: { $0 == "* end of history" }, timeout: 30)
        XCTAssertEqual(history.filter { $0.contains("during the outage") }.count, 20, "\(history)")
        XCTAssertTrue(history.contains { $0.hasSuffix("<guest-3> hello from carol") }, "\(history)")
        await server.stop()

        let check = try directConnection(cluster.url)
        XCTAssertEqual(try count("messages", check), 22)
        let rows = try check.query("SELECT nickname, close_reason FROM connections ORDER BY id", [])
        XCTAssertEqual(rows.map { $0[1].string }, ["quit: outage", "server shutdown", "server shutdown"])
        XCTAssertEqual(rows.last?[0].string, "guest-3", "carol's row carries the name she had")
    }
}

extension DatabaseTroubleEndToEndTests {
    /// Start-up against a PostgreSQL that is not up yet retries (within `--db-connect-timeout`) and then
    /// serves once it comes up.
    func testStartUpWaitsForPostgresToComeUp() throws {
        let cluster = try RestartablePostgresCluster.make()
        try cluster.stop()
        let directory = try makeTemporaryDirectory()
        let server = ServerProcess(
            arguments: ["serve", "--listen", "tcp:0:interface=127.0.0.1", "--database", cluster.url,
                        "--db-connect-timeout", "60"],
            workingDirectory: directory)
        try server.process.run()
        try server.waitForLog(containing: "database not reachable yet, retrying")
        XCTAssertFalse(server.logText.contains("listening"), "it must not listen before the database is there")
        try cluster.start()
        let log = try server.waitForLog(containing: "listening", timeout: 60)
        XCTAssertTrue(log.contains("127.0.0.1:\(cluster.port)"), "the retry log names the host:\n\(log)")
        XCTAssertEqual(server.terminate(), 0)
    }
}
