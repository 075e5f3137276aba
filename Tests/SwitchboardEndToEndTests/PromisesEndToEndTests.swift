import Foundation
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase

/// README promises checked on an in-process server (the CLI's own promises on the real binary), on both databases where the promise is about storage: flood
/// notices, migrations (atomic, refused when foreign), `history --json`, and what is stored.
final class PromisesEndToEndTests: XCTestCase {
    // MARK: - Flood control

    /// A client that keeps flooding for over three seconds gets `! slow down` again and again, but never
    /// twice within a second.
    func testSlowDownIsSentAtMostOnceASecond() async throws {
        let directory = try makeTemporaryDirectory()
        // Refill is negligible during the test: after the first line, every line is dropped.
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/h.sqlite", for: self) {
            $0.chat.floodRate = 0.001
            $0.chat.floodBurst = 1
        }
        let (alice, _) = try server.join()
        let (bob, _) = try server.join()
        alice.expect("* guest2 joined (2 clients connected)")

        var notices: [Date] = []
        var other: [String] = []
        let started = Date()
        while Date().timeIntervalSince(started) < 3.3 {
            alice.send("flood\r\n")
            while let line = alice.readLine(timeout: 0.05) {
                if line == "! slow down" { notices.append(Date()) } else { other.append(line) }
            }
        }
        bob.send("/msg guest1 sync\r\n")  // behind every notice on alice's connection
        for line in alice.readLines(until: { $0 == "*guest2* sync" }) where line != "*guest2* sync" {
            if line == "! slow down" { notices.append(Date()) } else { other.append(line) }
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(other, [], "alice sees nothing but notices")
        XCTAssertGreaterThanOrEqual(notices.count, 3, "the notice repeats while the flood goes on: \(notices)")
        XCTAssertLessThanOrEqual(
            notices.count, Int(elapsed.rounded(.up)), "at most one a second over \(elapsed) s: \(notices.count)")
        // Arrival times jitter a little; the server spaces them by 1 s of its own clock.
        for (earlier, later) in zip(notices, notices.dropFirst()) {
            XCTAssertGreaterThan(later.timeIntervalSince(earlier), 0.8, "two notices within a second")
        }
        XCTAssertEqual(
            bob.readLines(until: { $0 == "-> guest1: sync" }), ["<guest1> flood", "-> guest1: sync"],
            "only the burst (one line) got through")
        await server.stop()
    }

    // MARK: - Migrations

    /// A migration that fails part-way leaves nothing of itself behind (it runs in a transaction): the
    /// tables it created before the failure are gone and it is not recorded. Once the obstacle is removed,
    /// it applies.
    func testFailedMigrationLeavesNothingBehind() throws {
        try forEachBackend { database, directory in
            let connection = try directConnection(database)
            // Migration 1 creates `connections` first and `messages` later: a `messages` already there
            // makes it fail after `connections` was created.
            try connection.executeScript("CREATE TABLE messages (obstacle INTEGER)")
            let failed = try runSwitchboard(["migrate", "--database", database], in: directory)
            XCTAssertEqual(failed.status, 1, failed.errors)
            XCTAssertTrue(failed.errors.contains("messages"), "the error names the cause: \(failed.errors)")
            XCTAssertEqual(try tables(connection), ["messages", "schema_migrations"], "connections was rolled back")
            let recorded = try connection.query("SELECT count(*) FROM schema_migrations", [])
            XCTAssertEqual(recorded.first?.first?.int64, 0, "a failed migration is not recorded")

            try connection.executeScript("DROP TABLE messages")
            let applied = try runSwitchboard(["migrate", "--database", database], in: directory)
            XCTAssertEqual(applied.status, 0, applied.errors)
            XCTAssertTrue(applied.output.contains("applied 1 create_connections_and_messages"), applied.output)
            // On PostgreSQL the visit total is kept per server (server_visits, migration 6) and large cluster
            // payloads have a table (cluster_payloads, migration 7); SQLite has one server.
            let postgresOnly = database.hasPrefix("postgres")
            let largePayloads = postgresOnly ? ["cluster_payloads"] : []
            let perServerVisits = postgresOnly ? ["server_visits"] : []
            // Moderation's tables (PostgreSQL 0009, SQLite 0007) and the rollups (0010-0011, 0008-0009) on both.
            XCTAssertEqual(
                try tables(connection),
                ["bans"] + largePayloads + ["connection_minutes", "connections", "database_identity", "history_progress",
                 "message_hours", "messages", "moderation_log", "moderation_version", "motd", "mutes", "nickname_last_said", "nicknames",
                 "operators", "registered_nicknames", "schema_migrations"]
                    + perServerVisits + ["servers", "visitor_counter"])
        }
    }

    /// `migrate` and `serve` refuse, with exit status 1 and one clear line, a database that records a
    /// migration this binary does not know or a migration whose checksum differs from the file's.
    func testBinaryRefusesUnknownOrChangedMigrations() throws {
        try forEachBackend { database, directory in
            let migrated = try runSwitchboard(["migrate", "--database", database], in: directory)
            XCTAssertEqual(migrated.status, 0, migrated.errors)
            let connection = try directConnection(database)
            let cases: [(tamper: String, undo: String, message: String)] = [
                ("UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1",
                 "UPDATE schema_migrations SET checksum = '\(try MigrationFile.all(dialect: connection.dialect == .sqlite ? "sqlite" : "postgres")[0].sha256)' WHERE version = 1",
                 "migration 1 (create_connections_and_messages) recorded in the database has checksum deadbeef but "
                    + "this switchboard's file has "),
                ("INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                    + "VALUES (9999, 'from_the_future', 'abc', '2030-01-01T00:00:00Z')",
                 "DELETE FROM schema_migrations WHERE version = 9999",
                 "the database has migration 9999 (from_the_future) that this switchboard does not know"),
            ]
            for (tamper, undo, message) in cases {
                try connection.executeScript(tamper)
                let migrate = try runSwitchboard(["migrate", "--database", database], in: directory)
                XCTAssertEqual(migrate.status, 1, "migrate: \(migrate.errors)")
                XCTAssertTrue(migrate.errors.contains(message), "migrate: \(migrate.errors)")
                XCTAssertEqual(migrate.errors.split(separator: "\n").count, 1, "one line: \(migrate.errors)")
                let serve = try runSwitchboardBounded(
                    ["serve", "--listen", "tcp:0:interface=127.0.0.1", "--database", database], in: directory)
                XCTAssertEqual(serve.status, 1, "serve: \(serve.output)")
                XCTAssertTrue(serve.output.contains(message), "serve: \(serve.output)")
                XCTAssertFalse(serve.output.contains("listening"), "serve must not listen: \(serve.output)")
                try connection.executeScript(undo)
            }
            let fine = try runSwitchboard(["migrate", "--database", database], in: directory)
            XCTAssertEqual(fine.status, 0, "after undoing the tampering: \(fine.errors)")
        }
    }

    private func tables(_ connection: any DatabaseConnection) throws -> [String] {
        let sql = connection.dialect == .sqlite
            ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            : "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        return try connection.query(sql, []).compactMap { $0.first?.string }
    }

    // MARK: - history --json and what is stored

    /// `history --json` gives each connection's `peer` (the client's address and port), exact line and byte
    /// counts in both directions, ISO 8601 UTC times, newest first, and `--limit N` keeps the N newest.
    func testHistoryJSONGivesPeerCountsTimesAndHonoursLimit() async throws {
        try await forEachBackend { database, directory in
            let server = try await InProcessServer.start(database: database, for: self)
            let before = Date()
            var ports: [Int] = []
            var sent: [Int] = []
            var received: [(lines: Int, bytes: Int)] = []
            for n in 1...3 {
                let (client, _) = try server.join()
                ports.append(client.localPort)
                let input = "/nick user\(n)\r\nhello from \(n)\r\n" + String(repeating: "/count\r\n", count: n) + "/quit\r\n"
                client.send(input)
                let lines = client.readUntilClosed()
                XCTAssertEqual(lines.last, "* bye", "\(lines)")
                sent.append(input.utf8.count)
                received.append((lines.count + 1, client.bytesReceived))  // + the welcome read by joinClient
            }
            let after = Date()
            // Read while the server runs (it is stopped below).
            let rows = try await server.waitForHistory { rows in
                rows.count == 3 && rows.allSatisfy { $0["disconnected_at"] is String }
            }
            XCTAssertEqual(rows.map { $0["id"] as? Int }, [3, 2, 1], "newest first")
            for (row, n) in zip(rows.reversed(), 0..<3) {
                XCTAssertEqual(row["peer"] as? String, "127.0.0.1:\(ports[n])", "\(row)")
                XCTAssertEqual(row["nickname"] as? String, "user\(n + 1)")
                XCTAssertEqual(row["lines_in"] as? Int, 3 + n + 1, "\(row)")
                XCTAssertEqual(row["bytes_in"] as? Int, sent[n], "every byte received, terminators included: \(row)")
                XCTAssertEqual(row["lines_out"] as? Int, received[n].lines, "\(row)")
                XCTAssertEqual(row["bytes_out"] as? Int, received[n].bytes, "every byte sent: \(row)")
                let connected = try XCTUnwrap(Self.iso8601(row["connected_at"]), "\(row)")
                let disconnected = try XCTUnwrap(Self.iso8601(row["disconnected_at"]), "\(row)")
                XCTAssertGreaterThanOrEqual(connected, before.addingTimeInterval(-1))
                XCTAssertLessThanOrEqual(disconnected, after.addingTimeInterval(1))
                XCTAssertLessThanOrEqual(connected, disconnected)
            }

            for limit in [1, 2] {
                let limited = try runSwitchboard(
                    ["history", "--json", "--limit", "\(limit)", "--database", database], in: directory)
                XCTAssertEqual(limited.status, 0, limited.errors)
                let ids = limited.output.split(separator: "\n").compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? Int
                }
                XCTAssertEqual(ids, Array([3, 2, 1].prefix(limit)), "--limit \(limit): \(limited.output)")
            }
            await server.stop()
        }
    }

    /// A JSON time: ISO 8601 in UTC (`Z`), with optional fractional seconds.
    static func iso8601(_ value: Any?) -> Date? {
        guard let text = value as? String,
            text.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z/) != nil
        else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// What reaches the database is the sanitised text the room saw — no escape sequences, control,
    /// bidirectional-override or invalid bytes, in chat lines, `/me` and the `/quit` reason — while
    /// `bytes_in` counts every byte the client really sent.
    func testStoredTextIsSanitisedAndBytesInIsExact() async throws {
        try await forEachBackend { database, _ in
            let server = try await InProcessServer.start(database: database, for: self)
            let (alice, _) = try server.join()
            let (bob, _) = try server.join()
            alice.expect("* guest2 joined (2 clients connected)")
            let hostile: [UInt8] = Array("red \u{1B}[31mRED\u{1B}[0m bell\u{07} rtl\u{202E}x title\u{1B}]0;pwned\u{07}!".utf8)
                + [0xFE, 0x41] + Array("\r\n/me waves \u{1B}[2J\r\n/quit bye\u{1B}[5mnow\r\n".utf8)
            alice.send(hostile)
            bob.expect("<guest1> red RED bell rtlx title!\u{FFFD}A")
            bob.expect("* guest1 waves")
            bob.expect("* guest1 left (byenow) (1 client connected)")
            _ = alice.readUntilClosed()

            let rows = try await server.waitForHistory { rows in
                rows.contains { $0["id"] as? Int == 1 && $0["disconnected_at"] is String }
            }
            let row = try XCTUnwrap(rows.first { $0["id"] as? Int == 1 })
            XCTAssertEqual(row["bytes_in"] as? Int, hostile.count, "\(row)")
            XCTAssertEqual(row["lines_in"] as? Int, 3, "\(row)")
            XCTAssertEqual(row["close_reason"] as? String, "quit: byenow")

            let connection = try directConnection(database)
            let stored = try connection.query("SELECT kind, body FROM messages ORDER BY id", [])
            XCTAssertEqual(stored.map { $0.map(\.string) }, [["say", "red RED bell rtlx title!\u{FFFD}A"], ["me", "waves"]])
            let reason = try connection.query("SELECT close_reason FROM connections WHERE id = 1", [])
            XCTAssertEqual(reason.first?.first?.string, "quit: byenow")
            await server.stop()
        }
    }
}
