import Foundation
import NIOCore
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardTestSupport
import XCTest

@testable import SwitchboardWeb

/// The dashboard's numbers: each series against seeded history on SQLite and PostgreSQL, and `/api/stats`
/// over HTTP (its JSON fields, the live count, one read for a crowd of requests).
final class StatsTests: XCTestCase {
    /// Wednesday 2026-11-25 12:30:30 UTC.
    let now = Timestamp(iso8601: "2026-11-25T12:30:30.000000Z")!

    /// Every series counts exactly the seeded rows inside its window (refusals and older rows left out), on
    /// both databases.
    func testEachSeriesCountsTheSeededHistoryOnSQLiteAndPostgreSQL() throws {
        for database in try TestDatabases.all() {
            defer { database.drop() }
            let connection = try DatabasePool.connector(for: database.url)()
            let dialect = database.url.dialect
            _ = try HistoryRepository(dialect: dialect).migrate(on: connection)
            let seed = StatsSeed(connection: connection, dialect: dialect)
            let hour: Int64 = 3600
            // Open since before the window, still open: counted in every minute.
            let alice = try seed.connection("alice", at: now.adding(seconds: -30 * hour))
            // Open at the window's start, gone 10 hours ago.
            try seed.connection("bob", at: now.adding(seconds: -30 * hour), until: now.adding(seconds: -10 * hour), reason: "quit")
            // Came and went inside the window.
            let carol = try seed.connection("carol", at: now.adding(seconds: -2 * hour), until: now.adding(seconds: -1 * hour), reason: "quit")
            // Refused: a row, not a client.
            try seed.connection(nil, at: now.adding(seconds: -300), until: now.adding(seconds: -300), reason: "refused: server full")
            // Long ago: outside every window.
            try seed.connection("dave", at: now.adding(seconds: -40 * 24 * hour), until: now.adding(seconds: -40 * 24 * hour + 60), reason: "quit")
            for _ in 0..<3 { try seed.line(by: carol, "carol", at: now.adding(seconds: -90 * 60)) }   // today 11:00
            for _ in 0..<2 { try seed.line(by: alice, "alice", at: now.adding(seconds: -3 * 24 * hour)) }  // Sunday 12:30
            try seed.line(by: alice, "alice", at: now.adding(seconds: -40 * 24 * hour))

            let stats = try connection.transaction { connection throws(DatabaseError) in
                try StatsQueries(dialect: dialect).read(now: now, on: connection)
            }
            let minutes = stats.clientsPerMinute.counts
            XCTAssertEqual(stats.clientsPerMinute.start, "2026-11-24T12:31:00.000000Z", "\(database)")
            XCTAssertEqual(minutes.count, 1440)
            // Minute i ends at 12:32 yesterday + i minutes; bob left at 02:30:30 today, carol was here 10:30:30–11:30:30.
            func clients(at time: String) -> Int64 {
                let start = Timestamp(iso8601: stats.clientsPerMinute.start)!.microsecondsSinceEpoch
                let index = Int((Timestamp(iso8601: time)!.microsecondsSinceEpoch - start) / 60_000_000)
                return minutes[index]
            }
            XCTAssertEqual(clients(at: "2026-11-24T12:31:00.000000Z"), 2, "alice and bob: \(database)")
            XCTAssertEqual(clients(at: "2026-11-25T02:29:00.000000Z"), 2, "\(database)")
            XCTAssertEqual(clients(at: "2026-11-25T02:30:00.000000Z"), 1, "bob left in this minute: \(database)")
            XCTAssertEqual(clients(at: "2026-11-25T10:30:00.000000Z"), 2, "carol came: \(database)")
            XCTAssertEqual(clients(at: "2026-11-25T11:29:00.000000Z"), 2, "\(database)")
            XCTAssertEqual(clients(at: "2026-11-25T11:30:00.000000Z"), 1, "carol left: \(database)")
            XCTAssertEqual(minutes.last, 1, "now: alice alone (the refusal is not a client): \(database)")
            XCTAssertEqual(minutes.max(), 2)

            XCTAssertEqual(stats.visitsPerDay.start, "2026-10-27")
            var visits = Array(repeating: Int64(0), count: 30)
            visits[28] = 2  // alice and bob, yesterday
            visits[29] = 1  // carol today; the refusal is no visit
            XCTAssertEqual(stats.visitsPerDay.counts, visits, "\(database)")
            var lines = Array(repeating: Int64(0), count: 30)
            lines[26] = 2
            lines[29] = 3
            XCTAssertEqual(stats.linesPerDay.counts, lines, "\(database)")

            XCTAssertEqual(stats.busiestHours.start, "2026-10-29")
            var grid = Array(repeating: Array(repeating: Int64(0), count: 24), count: 7)
            grid[2][11] = 3  // Wednesday 11:00
            grid[6][12] = 2  // Sunday 12:00
            XCTAssertEqual(stats.busiestHours.counts, grid, "\(database)")
        }
    }

    /// `/api/stats` over HTTP: the documented fields, the live count from the hub, and a hundred requests at
    /// once cost one read of the history.
    func testApiStatsServesTheFieldsReadsOnceForACrowdAndCountsLive() async throws {
        let server = try await WebTestServer.start(for: self) { _ in } configureWeb: { $0.statsCacheLifetime = .seconds(60) }
        let responses = try await withThrowingTaskGroup(of: RawHTTPClient.Response.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    let client = try await RawHTTPClient.connect(port: server.webPort)
                    try await client.send("GET /api/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    return try await client.untilClosed().responses[0]
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(responses.map(\.status), Array(repeating: 200, count: 100))
        let reads = try await server.web.statsReads()
        XCTAssertEqual(reads, 1, "a hundred requests, one read")
        let first = try XCTUnwrap(responses.first)
        XCTAssertEqual(first.header("Content-Type"), "application/json; charset=utf-8")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(first.body.utf8)) as? [String: Any])
        XCTAssertEqual(Set(json.keys), [
            "connected_now", "visits_total", "generated_at", "clients_per_minute", "visits_per_day", "lines_per_day",
            "busiest_hours",
        ])
        XCTAssertEqual(json["connected_now"] as? Int, 0)
        XCTAssertEqual(((json["clients_per_minute"] as? [String: Any])?["counts"] as? [Any])?.count, 1440)

        // A telnet client joins: the next answer counts it, from the same reading.
        let telnet = try await RawHTTPClient.connect(port: server.chatPort)
        _ = try await telnet.waitFor("Welcome")
        let client = try await RawHTTPClient.connect(port: server.webPort)
        try await client.send("GET /api/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let again = try await client.untilClosed().responses[0]
        let live = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(again.body.utf8)) as? [String: Any])
        XCTAssertEqual(live["connected_now"] as? Int, 1)
        XCTAssertEqual(live["visits_total"] as? Int, 1)
        let readsAfter = try await server.web.statsReads()
        XCTAssertEqual(readsAfter, 1)
        await telnet.close()
    }
}
