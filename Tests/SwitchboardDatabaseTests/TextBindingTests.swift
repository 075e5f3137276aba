import Foundation
import SwitchboardDatabase
import SwitchboardTestSupport
import XCTest

/// Text values go into a statement and come back unchanged on both databases, whatever the string's storage:
/// SQLite binds them from one buffer per call (not one C string per value), so the empty string, multi-byte
/// UTF-8, strings longer than Swift's inline ones, substrings' copies and Foundation's strings all go through it.
final class TextBindingTests: XCTestCase {
    func testTextRoundTripsWhateverItsStorage() throws {
        let long = String(repeating: "x", count: 5_000)
        let sliced = String("<<inside>>".dropFirst(2).dropLast(2))
        let bridged = NSString(string: "from Foundation é").description
        let texts = ["", "a", "é✓ 日本語 🙂", long, sliced, bridged, "quote ' and \\ backslash"]
        for database in try TestDatabases.all() {
            defer { database.drop() }
            let connection = try DatabasePool.connector(for: database.url)()
            let p = connection.dialect == .sqlite ? ["?1", "?2", "?3"] : ["$1", "$2", "$3"]
            try connection.executeScript("CREATE TABLE texts (id BIGINT PRIMARY KEY, body TEXT, other TEXT)")
            for (index, text) in texts.enumerated() {
                // Text between an integer and a NULL: the buffer's offsets must follow the binds' order.
                try connection.fetch(
                    "INSERT INTO texts (id, body, other) VALUES (\(p[0]), \(p[1]), \(p[2]))",
                    [.integer(Int64(index)), .text(text), index.isMultiple(of: 2) ? .null : .text(text + "!")])
            }
            let rows = try connection.fetch("SELECT body, other FROM texts ORDER BY id", []).rows
            XCTAssertEqual(rows.map { $0[0].string }, texts, "\(database)")
            for (index, row) in rows.enumerated() {
                XCTAssertEqual(row[1].string, index.isMultiple(of: 2) ? nil : texts[index] + "!", "\(database)")
            }
            let found = try connection.fetch("SELECT id FROM texts WHERE body = \(p[0])", [.text("é✓ 日本語 🙂")])
            XCTAssertEqual(found.rows.first?.first?.int64, 2, "a bound text compares equal to the stored one: \(database)")
        }
    }
}
