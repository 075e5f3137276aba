import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase
import SwitchboardHistory

/// `hours` hours and `seconds` seconds after 2025-11-24T16:00:00Z.
private func at(_ hours: Int64, plus seconds: Int64 = 0) -> Timestamp {
    Timestamp(microsecondsSinceEpoch: 1_764_000_000_000_000 + hours * 3_600_000_000 + seconds * 1_000_000)
}

/// The rollups kept beside `messages` (migration `message_rollups`): lines per UTC hour for the dashboard and
/// each nickname's last line for `/seen`, on both backends, written by the history writer and filled from
/// existing lines by the migration.
final class MessageRollupsTests: XCTestCase {

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
        XCTAssertEqual(MessageRollups.key(of: at(0)), "2025-11-24T16")
        XCTAssertEqual(MessageRollups.key(of: at(1, plus: -1)), "2025-11-24T16")
        XCTAssertEqual(MessageRollups.key(of: Timestamp(microsecondsSinceEpoch: -1)), "1969-12-31T23")
    }
}
