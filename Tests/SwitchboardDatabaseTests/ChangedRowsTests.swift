import SwitchboardDatabase
import SwitchboardTestSupport
import XCTest

/// `QueryResult.changedRows` on both databases: a write reports the rows it changed (so a history close can
/// tell an open row from one already closed without `RETURNING`), a read reports none.
final class ChangedRowsTests: XCTestCase {
    func testAWriteReportsTheRowsItChangedAndAReadReportsNone() throws {
        for database in try TestDatabases.all() {
            defer { database.drop() }
            let connection = try DatabasePool.connector(for: database.url)()
            let p = connection.dialect == .sqlite ? ["?1", "?2"] : ["$1", "$2"]
            try connection.executeScript("CREATE TABLE visits (id BIGINT PRIMARY KEY, closed TEXT)")
            let insert = try connection.fetch(
                "INSERT INTO visits (id, closed) VALUES (\(p[0]), NULL), (\(p[1]), NULL)", [.integer(1), .integer(2)])
            XCTAssertEqual(insert.changedRows, 2, "\(database)")

            let close = "UPDATE visits SET closed = 'yes' WHERE id = \(p[0]) AND closed IS NULL"
            XCTAssertEqual(try connection.fetch(close, [.integer(1)]).changedRows, 1, "an open row: \(database)")
            // A read right after a write does not report the write's count.
            let read = try connection.fetch("SELECT id FROM visits ORDER BY id", [])
            XCTAssertEqual(read.rows.count, 2, "\(database)")
            XCTAssertEqual(read.changedRows, 0, "\(database)")
            XCTAssertEqual(try connection.fetch(close, [.integer(1)]).changedRows, 0, "already closed: \(database)")
            XCTAssertEqual(try connection.fetch(close, [.integer(3)]).changedRows, 0, "no such row: \(database)")

            let all = try connection.fetch("UPDATE visits SET closed = 'again' RETURNING id", [])
            XCTAssertEqual(all.rows.count, 2, "\(database)")
            XCTAssertEqual(all.changedRows, 2, "RETURNING does not hide the count: \(database)")
            XCTAssertEqual(try connection.fetch("DELETE FROM visits", []).changedRows, 2, "\(database)")
        }
    }
}
