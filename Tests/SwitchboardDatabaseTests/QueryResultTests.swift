import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase

/// Rows are read by column name, and a value that does not fit is an error naming the column.
final class QueryResultTests: XCTestCase {
    private let result = QueryResult(
        sql: "SELECT id, nickname, seen_at FROM t",
        columns: ["id", "nickname", "seen_at"],
        rows: [
            [.integer(1), .text("alice"), .text("2025-11-25T15:13:59.123456Z")],
            [.text("2"), .null, .text("2025-11-25T15:14:00.000000Z")],
        ])

    /// Expects `body` to throw a `DatabaseError` of kind `decodingFailed` and returns it.
    private func decodingError(
        file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
    ) -> DatabaseError? {
        do {
            try body()
            XCTFail("expected a decoding error", file: file, line: line)
        } catch let error as DatabaseError {
            XCTAssertEqual(error.kind, .decodingFailed, file: file, line: line)
            return error
        } catch {
            XCTFail("expected a DatabaseError, got \(error)", file: file, line: line)
        }
        return nil
    }

    /// Values are found by name whatever their position; integers may arrive as text (libpq), NULL reads as
    /// nil where it is allowed.
    func testRowsDecodeByColumnName() throws {
        let decoded = try result.decodeRows { row throws(DatabaseError) in
            (try row.decode("seen_at", as: Timestamp.self), try row.decode("id", as: Int64.self),
             try row.decodeIfPresent("nickname", as: String.self))
        }
        XCTAssertEqual(decoded.map(\.1), [1, 2])
        XCTAssertEqual(decoded.map(\.2), ["alice", nil])
        XCTAssertEqual(decoded.first?.0, Timestamp(microsecondsSinceEpoch: 1_764_083_639_123_456))
        XCTAssertEqual(try result.firstRow?.decode("nickname", as: String.self), "alice")
    }

    /// A missing column, a NULL where a value is needed, and a value of the wrong kind each throw, naming
    /// the column and the SQL — and never the value, which may be someone's chat line.
    func testDecodingFailuresNameTheColumn() {
        let missing = decodingError { _ = try result.decodeRows { row throws(DatabaseError) in try row.decode("peer", as: String.self) } }
        XCTAssertEqual(missing?.column, "peer")
        XCTAssertEqual(missing?.message, "column peer is missing from the result (it has id, nickname, seen_at)")
        XCTAssertEqual(missing?.sql, "SELECT id, nickname, seen_at FROM t")

        let null = decodingError { _ = try result.decodeRows { row throws(DatabaseError) in try row.decode("nickname", as: String.self) } }
        XCTAssertEqual(null?.column, "nickname")
        XCTAssertEqual(null?.message, "column nickname is NULL where text was expected")

        let wrong = decodingError { _ = try result.decodeRows { row throws(DatabaseError) in try row.decode("nickname", as: Timestamp.self) } }
        XCTAssertEqual(wrong?.column, "nickname")
        XCTAssertEqual(wrong?.message, "column nickname holds text that is not an ISO 8601 UTC time")
        XCTAssertFalse(wrong?.description.contains("alice") ?? true)

        let notInteger = decodingError { _ = try result.decodeRows { row throws(DatabaseError) in try row.decode("nickname", as: Int64.self) } }
        XCTAssertEqual(notInteger?.message, "column nickname holds text that is not an integer")
    }

    /// Both backends name result columns: by the table's name, or by the `AS` alias.
    func testBothBackendsReportColumnNames() async throws {
        try await forEachMigratedDatabase { db in
            let result = try await db.pool.withConnection { connection throws(DatabaseError) in
                try connection.fetch("SELECT id, peer AS who, 41 + 1 AS answer FROM connections", [])
            }
            XCTAssertEqual(result.columns, ["id", "who", "answer"])
            XCTAssertEqual(result.rows, [])
            let one = try await db.pool.withConnection { connection throws(DatabaseError) in
                try connection.fetch("SELECT 41 + 1 AS answer, NULL AS absent", []).firstRow.map { row throws(DatabaseError) in
                    (try row.decode("answer", as: Int64.self), try row.decodeIfPresent("absent", as: String.self))
                }
            }
            XCTAssertEqual(one?.0, 42)
            XCTAssertEqual(one?.1, nil)
        }
    }
}
