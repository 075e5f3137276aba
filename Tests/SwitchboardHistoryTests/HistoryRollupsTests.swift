import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase
@testable import SwitchboardHistory

/// `hours` hours and `seconds` seconds after 2025-11-24T16:00:00Z.
private func at(_ hours: Int64, plus seconds: Int64 = 0) -> Timestamp {
    Timestamp(microsecondsSinceEpoch: 1_764_000_000_000_000 + hours * 3_600_000_000 + seconds * 1_000_000)
}

/// The rollups kept beside the history (migrations `message_rollups` and `connection_rollups`): lines per
/// UTC hour for the dashboard, each nickname's last line for `/seen`, connections begun and ended per minute
/// for the dashboard; on both backends, written by every writer of those rows and filled by the migrations.
final class HistoryRollupsTests: XCTestCase {

    /// Lines over two batches and two hours are counted per hour; each nickname (whatever its case) keeps its
    /// latest line, and a line that arrives later but was said earlier does not replace it.
    func testTheWriterCountsLinesPerHourAndKeepsEachNicknamesLastLine() async throws {
        try await forEachDatabase { db in
            let (one, two) = (ConnectionKey(1), ConnectionKey(2))
            try await db.onLoop { writer in
                _ = writer.connectionOpened(one, peer: "a", nickname: "ann", at: at(0))
                _ = writer.connectionOpened(two, peer: "b", nickname: "bob", at: at(0))
                for second in 0..<5 {
                    writer.messageSaid(one, nickname: "ann", kind: .say, body: "a\(second)", at: at(0, plus: Int64(second)))
                }
                writer.messageSaid(two, nickname: "bob", kind: .me, body: "waves", at: at(0, plus: 3_599))
                writer.messageSaid(one, nickname: "Ann", kind: .say, body: "next hour", at: at(1, plus: 10))
            }
            try await db.flush()
            try await db.onLoop { writer in
                writer.messageSaid(one, nickname: "ann", kind: .say, body: "later", at: at(1, plus: 20))
                // Stamped before bob's stored line: it counts in its hour but is not bob's last line.
                writer.messageSaid(two, nickname: "bob", kind: .say, body: "late", at: at(0, plus: 1))
            }
            try await db.flush()

            let hours = try await db.query("SELECT hour, lines FROM message_hours ORDER BY hour")
            XCTAssertEqual(hours.map { $0[0].string }, ["2025-11-24T16", "2025-11-24T17"])
            XCTAssertEqual(hours.map { $0[1].int64 }, [7, 2])
            let names = try await db.query("SELECT nickname_key, nickname FROM nickname_last_said ORDER BY nickname_key")
            XCTAssertEqual(names.map { $0[0].string }, ["ann", "bob"])
            XCTAssertEqual(names.map { $0[1].string }, ["ann", "bob"])

            let ann = try await db.awaitOnLoop { $0.lastSeen(nickname: "ANN") }
            XCTAssertEqual(ann, SeenRecord(nickname: "ann", at: at(1, plus: 20)))
            let bob = try await db.awaitOnLoop { $0.lastSeen(nickname: "bob") }
            XCTAssertEqual(bob, SeenRecord(nickname: "bob", at: at(0, plus: 3_599)))
        }
    }

    /// A database that already holds lines gets its rollups from them when the migration runs, so the
    /// dashboard and `/seen` answer the same after an upgrade as before it.
    func testTheMigrationFillsTheRollupsFromExistingLines() throws {
        try TestDatabases.forEach { database in
            let dialect = database.url.dialect
            let connection = try DatabasePool.connector(for: database.url)()
            let all = Migration.all(for: dialect)
            let before = all.filter { $0.name != "message_rollups" }
            XCTAssertEqual(before.count, all.count - 1, "[\(dialect)] the rollups' migration is found by name")
            _ = try Migrator(dialect: dialect, migrations: before).migrate(connection)

            let mark = dialect == .sqlite ? "?" : "$"
            let id = try connection.query(
                "INSERT INTO connections (peer, nickname, connected_at) VALUES ('p', 'Cy', \(mark)1) RETURNING id",
                [.text(at(0).iso8601)]
            ).first?.first?.int64 ?? -1
            for (nickname, time) in [("Cy", at(0, plus: 5)), ("cy", at(2, plus: 1)), ("Cy", at(2)), ("dee", at(0))] {
                try connection.query(
                    "INSERT INTO messages (connection_id, nickname, kind, body, sent_at) VALUES (\(mark)1, \(mark)2, 'say', 'x', \(mark)3)",
                    [.integer(id), .text(nickname), .text(time.iso8601)])
            }
            let outcome = try Migrator(dialect: dialect, migrations: all).migrate(connection)
            XCTAssertEqual(outcome.applied.map(\.name), ["message_rollups"], "[\(dialect)]")

            let hours = try connection.query("SELECT hour, lines FROM message_hours ORDER BY hour", [])
            XCTAssertEqual(hours.map { $0[0].string }, ["2025-11-24T16", "2025-11-24T18"], "[\(dialect)]")
            XCTAssertEqual(hours.map { $0[1].int64 }, [2, 2], "[\(dialect)]")
            let repository = HistoryRepository(dialect: dialect)
            XCTAssertEqual(
                try repository.lastSeen(nickname: "CY", on: connection), SeenRecord(nickname: "cy", at: at(2, plus: 1)),
                "[\(dialect)]")
            XCTAssertEqual(
                try repository.lastSeen(nickname: "dee", on: connection), SeenRecord(nickname: "dee", at: at(0)),
                "[\(dialect)]")
        }
    }

    /// The hour key is the UTC hour holding the time, times before 1970 included.
    func testTheHourKeyIsTheUTCHourHoldingTheTime() {
        XCTAssertEqual(HistoryRollups.hourKey(of: at(0)), "2025-11-24T16")
        XCTAssertEqual(HistoryRollups.hourKey(of: at(1, plus: -1)), "2025-11-24T16")
        XCTAssertEqual(HistoryRollups.hourKey(of: Timestamp(microsecondsSinceEpoch: -1)), "1969-12-31T23")
    }

    /// `connection_minutes` always equals what the `connections` rows say, counted the way the migration
    /// fills it, through every writer of those rows: the history writer (a row opened and closed in one batch,
    /// across two, a refusal), start-up repair closing a dead server's open row, the server's rejoin reopening
    /// it, and its real close arriving after a repair closed it for it.
    func testConnectionMinutesAgreeWithTheRowsThroughEveryWriter() throws {
        try TestDatabases.forEach { database in
            let dialect = database.url.dialect
            let connection = try DatabasePool.connector(for: database.url)()
            _ = try HistoryRepository(dialect: dialect).migrate(on: connection)
            let registry = ServerRegistry(dialect: dialect)
            let server = try registry.register(
                ServerRegistration(host: "test", pid: 1, endpoints: "tcp:8000", version: "test"), on: connection)
            let repository = HistoryRepository(dialect: dialect, serverID: server)
            let (one, two, three) = (ConnectionKey(1), ConnectionKey(2), ConnectionKey(3))
            func summary(_ reason: String, at time: Timestamp) -> ConnectionSummary {
                ConnectionSummary(nickname: nil, closedAt: time, reason: reason, linesIn: 0, linesOut: 0, bytesIn: 0, bytesOut: 0)
            }
            func check(_ step: String) throws {
                XCTAssertEqual(try minutes(on: connection), try expectedMinutes(dialect, on: connection), "[\(dialect)] \(step)")
            }

            let ids = try connection.transaction { connection throws(DatabaseError) in
                try repository.write([
                    .opened(one, peer: "a", nickname: "ann", at: at(0, plus: 10), visitor: 101),
                    .opened(two, peer: "b", nickname: "bob", at: at(0, plus: 70), visitor: 102),
                    .opened(three, peer: "c", nickname: nil, at: at(0, plus: 75), visitor: 103),
                    .closed(three, summary("quit", at: at(0, plus: 200))),
                    .refused(peer: "d", reason: "refused: server full", at: at(0, plus: 80), visitor: 104),
                ], known: [:], on: connection)
            }
            XCTAssertEqual(try minutes(on: connection).map(\.connects).reduce(0, +), 3, "[\(dialect)] the refusal is no visit")
            try check("opened, finished in the batch, refused")
            _ = try connection.transaction { connection throws(DatabaseError) in
                try repository.write([.closed(one, summary("connection closed", at: at(1)))], known: ids, on: connection)
            }
            try check("closed in a later batch")

            try registry.markGone(server, on: connection)
            XCTAssertEqual(try registry.closeOrphanedConnections(at: at(2), on: connection), 1, "[\(dialect)]")
            try check("start-up repair closed the open row")
            XCTAssertEqual(try ServerHeartbeat.rejoin(server, dialect: dialect, at: at(2, plus: 30), on: connection), 1)
            try check("the rejoin reopened it")

            try registry.markGone(server, on: connection)
            XCTAssertEqual(try registry.closeOrphanedConnections(at: at(3), on: connection), 1, "[\(dialect)]")
            _ = try connection.transaction { connection throws(DatabaseError) in
                try repository.write([.closed(two, summary("quit", at: at(3, plus: 5)))], known: ids, on: connection)
            }
            try check("the real close replaced the repair's")
            let reason = try connection.query("SELECT close_reason FROM connections WHERE id = 102", []).first?.first?.string
            XCTAssertEqual(reason, "quit", "[\(dialect)]")
        }
    }

    /// A database that already holds connection rows gets `connection_minutes` from them when the migration
    /// runs: visits by when they began and ended, refusals left out, open rows counted as begun only.
    func testTheMigrationFillsConnectionMinutesFromExistingRows() throws {
        try TestDatabases.forEach { database in
            let dialect = database.url.dialect
            let connection = try DatabasePool.connector(for: database.url)()
            let all = Migration.all(for: dialect)
            _ = try Migrator(dialect: dialect, migrations: all.filter { $0.name != "connection_rollups" }).migrate(connection)
            let mark = dialect == .sqlite ? "?" : "$"
            let rows: [(Timestamp, Timestamp?, String?)] = [
                (at(0, plus: 5), nil, nil),  // still open
                (at(0, plus: 10), at(0, plus: 50), "quit"),  // same minute
                (at(0, plus: 20), at(1, plus: 5), "connection closed"),
                (at(0, plus: 30), at(0, plus: 30), "refused: server full"),  // no visit
            ]
            for (connected, disconnected, reason) in rows {
                try connection.query(
                    "INSERT INTO connections (peer, connected_at, disconnected_at, close_reason) VALUES ('p', \(mark)1, \(mark)2, \(mark)3)",
                    [.text(connected.iso8601), disconnected.map { .text($0.iso8601) } ?? .null, reason.map { .text($0) } ?? .null])
            }
            let outcome = try Migrator(dialect: dialect, migrations: all).migrate(connection)
            XCTAssertEqual(outcome.applied.map(\.name), ["connection_rollups"], "[\(dialect)]")
            XCTAssertEqual(try minutes(on: connection), [
                MinuteCounts(minute: "2025-11-24T16:00", connects: 3, disconnects: 1),
                MinuteCounts(minute: "2025-11-24T17:00", connects: 0, disconnects: 1),
            ], "[\(dialect)]")
            XCTAssertEqual(try minutes(on: connection), try expectedMinutes(dialect, on: connection), "[\(dialect)]")
        }
    }

    private func minutes(on connection: any DatabaseConnection) throws -> [MinuteCounts] {
        try connection.query(
            "SELECT minute, connects, disconnects FROM connection_minutes WHERE connects <> 0 OR disconnects <> 0 ORDER BY minute", []
        ).map { MinuteCounts(minute: $0[0].string ?? "", connects: $0[1].int64 ?? 0, disconnects: $0[2].int64 ?? 0) }
    }

    /// The counts recomputed from the `connections` rows, as the migration computes them.
    private func expectedMinutes(_ dialect: SQLDialect, on connection: any DatabaseConnection) throws -> [MinuteCounts] {
        func minute(_ column: String) -> String {
            dialect == .sqlite ? "substr(\(column), 1, 16)" : "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI')"
        }
        let visit = "(close_reason IS NULL OR close_reason NOT LIKE 'refused:%')"
        return try connection.query("""
            SELECT minute, sum(connects) AS connects, sum(disconnects) AS disconnects FROM (
                SELECT \(minute("connected_at")) AS minute, 1 AS connects, 0 AS disconnects FROM connections WHERE \(visit)
                UNION ALL
                SELECT \(minute("disconnected_at")), 0, 1 FROM connections WHERE disconnected_at IS NOT NULL AND \(visit)
            ) AS counted GROUP BY minute ORDER BY minute
            """, []
        ).map { MinuteCounts(minute: $0[0].string ?? "", connects: $0[1].int64 ?? 0, disconnects: $0[2].int64 ?? 0) }
    }
}

private struct MinuteCounts: Equatable {
    var minute: String
    var connects: Int64
    var disconnects: Int64
}
