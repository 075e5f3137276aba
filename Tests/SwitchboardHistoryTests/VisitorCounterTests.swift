import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase
import SwitchboardHistory

/// Visitor numbers (connection row ids) reserved in blocks from `visitor_counter`, on both backends.
final class VisitorCounterTests: XCTestCase {
    /// Reservations never overlap and only grow; rows are written under the numbers given, with the guest
    /// name that goes with them; an unreserved connection or refusal takes the next number as it is written.
    func testReservationsDoNotOverlapAndRowsUseTheirNumbers() async throws {
        try await forEachDatabase { db in
            let first = try await db.awaitOnLoop { $0.reserveVisitorNumbers(count: 3) }
            let second = try await db.awaitOnLoop { $0.reserveVisitorNumbers(count: 2) }
            XCTAssertEqual(first, 1..<4)
            XCTAssertEqual(second, 4..<6)
            let given = try await db.awaitOnLoop {
                $0.connectionOpened(ConnectionKey(1), visitor: 2, peer: "p", nickname: nil, at: Timestamp.now())
            }
            XCTAssertEqual(given, 2)
            let unreserved = try await db.awaitOnLoop {
                $0.connectionOpened(ConnectionKey(2), visitor: nil, peer: "q", nickname: nil, at: Timestamp.now())
            }
            XCTAssertEqual(unreserved, 6, "after every reserved number")
            try await db.onLoop { $0.connectionRefused(visitor: nil, peer: "r", reason: "refused: server full", at: Timestamp.now()) }
            try await db.flush()
            let rows = try await db.query("SELECT id, nickname FROM connections ORDER BY id")
            XCTAssertEqual(rows.map { $0[0].int64 }, [2, 6, 7])
            XCTAssertEqual(rows.map { $0[1].string }, ["guest2", "guest6", nil])
        }
    }

    /// Numbers given back at shutdown are handed out again — unless someone reserved after them.
    func testUnusedNumbersGoBackOnlyFromTheTop() async throws {
        try await forEachDatabase { db in
            let block = try await db.awaitOnLoop { $0.reserveVisitorNumbers(count: 10) }
            try await db.awaitOnLoop { $0.returnVisitorNumbers(block.lowerBound + 4..<block.upperBound) }
            let next = try await db.awaitOnLoop { $0.reserveVisitorNumbers(count: 1) }
            XCTAssertEqual(next.lowerBound, block.lowerBound + 4, "the tail went back")
            try await db.awaitOnLoop { $0.returnVisitorNumbers(block.lowerBound + 2..<block.lowerBound + 4) }
            let after = try await db.awaitOnLoop { $0.reserveVisitorNumbers(count: 1) }
            XCTAssertEqual(after.lowerBound, next.upperBound, "numbers below a later reservation are not reused")
        }
    }

    /// A database written before the counter existed starts counting above its highest row id.
    func testTheCounterStartsAboveExistingRows() async throws {
        try await forEachDatabase { db in
            let dialect = db.pool.url.dialect
            let override = dialect == .postgres ? " OVERRIDING SYSTEM VALUE" : ""
            try await db.pool.withConnection { connection throws(DatabaseError) in
                // As version 1 left it: rows, and no counter.
                try connection.executeScript("DROP TABLE visitor_counter")
                try connection.executeScript("DELETE FROM schema_migrations WHERE version = 2")
                try connection.executeScript(
                    "INSERT INTO connections (id, peer, connected_at)\(override) VALUES (57, 'old', '2026-11-25T15:00:00Z')")
            }
            let outcome = try await db.migrate()
            XCTAssertEqual(outcome.applied.map(\.version), [2])
            let next = try await db.awaitOnLoop { $0.reserveVisitorNumbers(count: 1) }
            XCTAssertEqual(next.lowerBound, 58)
        }
    }
}
