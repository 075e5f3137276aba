import Foundation
import SwitchboardTestSupport
import XCTest
@testable import SwitchboardDatabase

/// `PostgresConnection.copyRows` (`COPY … FROM STDIN`, how history stores a flood of chat lines) against a real
/// server, on a fresh database from `TestDatabases.requirePostgres()`: every value comes back as it went in, in
/// order; a failure is one error with the SQLSTATE and the statement, never a value, and the connection goes on.
final class PostgresCopyTests: XCTestCase {
    private var database: TestDatabase?
    private var connection: PostgresConnection?

    private static let create = """
        CREATE TABLE bulk (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n BIGINT, t TEXT,
            u TEXT NOT NULL CHECK (u <> 'forbidden'))
        """
    private static let copy = "COPY bulk (n, t, u) FROM STDIN"

    override func setUpWithError() throws {
        let database = try TestDatabases.requirePostgres()
        self.database = database
        guard case .postgres(let parameters) = database.url else { return XCTFail("not a PostgreSQL URL: \(database)") }
        let connection = try PostgresConnection(uri: parameters.uri)
        try connection.executeScript(Self.create)
        self.connection = connection
    }

    override func tearDown() {
        connection?.close()
        connection = nil
        database?.drop()
        database = nil
    }

    /// Copies `values` in a transaction of its own; the error if it failed.
    private func copy(_ values: [DatabaseValue]) throws -> DatabaseError? {
        let connection = try XCTUnwrap(connection)
        do {
            try connection.transaction { connection throws(DatabaseError) in
                try connection.copyRows(Self.copy, values, columns: 3)
            }
            return nil
        } catch {
            return error
        }
    }

    private func count() throws -> Int64? {
        try XCTUnwrap(connection).fetch("SELECT count(*) AS n FROM bulk", []).firstRow?.decode("n", as: Int64.self)
    }

    /// Values that COPY's text format must escape or mark (tab, newline, carriage return, backslash, a text that
    /// reads `\N`, NULL, the empty string), non-ASCII text and both integer extremes, in 3 000 rows (more than one
    /// `PQputCopyData` chunk of text is not needed for that; the order is): every row comes back, in order, with
    /// its values unchanged.
    func testEveryValueComesBackInOrder() throws {
        let awkward: [DatabaseValue] = [
            .text("plain"), .text("tab\there"), .text("new\nline"), .text("carriage\rreturn"), .text("back\\slash"),
            .text("\\N"), .text(""), .null, .text("héllo wörld ✓ 🚀 \"quoted\" 'single'"), .text("'); DROP TABLE bulk; --"),
        ]
        var values: [DatabaseValue] = []
        var expected: [DatabaseRow] = []
        for row in 0..<3_000 {
            let n: DatabaseValue =
                row == 0 ? .integer(Int64.min) : row == 1 ? .integer(Int64.max) : row % 7 == 0 ? .null : .integer(Int64(row))
            let row = [n, awkward[row % awkward.count], .text("row \(row)\t\\")]
            values += row
            expected.append(row)
        }
        XCTAssertNil(try copy(values))
        let rows = try XCTUnwrap(connection).fetch("SELECT n, t, u FROM bulk ORDER BY id", []).rows
        XCTAssertEqual(rows.count, expected.count)
        // Integers come back as text from libpq: compared as integers.
        XCTAssertEqual(rows.map { $0[0].int64 }, expected.map { $0[0].int64 })
        XCTAssertEqual(rows.map { $0[1] }, expected.map { $0[1] })
        XCTAssertEqual(rows.map { $0[2] }, expected.map { $0[2] })
    }

    /// One bad row among many fails the call: the error carries the SQLSTATE and the statement, not the row's
    /// values; the transaction rolls back whole, and the connection is used again.
    func testABadRowFailsTheCallWithoutItsValues() throws {
        let secret = "secret-chat-line-\(UInt32.random(in: 0...UInt32.max))"
        var values: [DatabaseValue] = []
        for row in 0..<500 { values += [.integer(Int64(row)), .text(secret), .text(row == 321 ? "forbidden" : secret)] }
        let failure = try XCTUnwrap(try copy(values), "a CHECK violation must fail the call")
        XCTAssertEqual(failure.kind, .statementFailed)
        XCTAssertEqual(failure.sqlState, "23514")
        XCTAssertEqual(failure.sql, Self.copy)
        XCTAssertFalse(failure.description.contains(secret), failure.description)
        XCTAssertTrue(try XCTUnwrap(connection).isUsable)
        XCTAssertEqual(try count(), 0, "the failed call's rows are rolled back with its transaction")
        XCTAssertNil(try copy([.integer(1), .text("after"), .text("ok")]))
        XCTAssertEqual(try count(), 1)
    }

    /// A value PostgreSQL quotes back in its message (text where a number belongs) is not in the error; text
    /// holding NUL is refused before anything is sent; a value count that is not a whole number of rows is
    /// refused too. The connection stays usable after each.
    func testRefusedValuesAreNotShown() throws {
        let notANumber = try XCTUnwrap(try copy([.text("not-a-number-7d3f"), .text("a"), .text("b")]))
        XCTAssertEqual(notANumber.sqlState, "22P02")
        XCTAssertEqual(notANumber.sql, Self.copy)
        XCTAssertFalse(notANumber.description.contains("not-a-number-7d3f"), notANumber.description)

        let nul = try XCTUnwrap(try copy([.integer(1), .text("nul\u{0}inside"), .text("b")]))
        XCTAssertEqual(nul.kind, .statementFailed, "PostgreSQL cannot store NUL")
        XCTAssertNil(nul.sqlState, "refused before the COPY started")
        XCTAssertFalse(nul.description.contains("inside"), nul.description)

        let ragged = try XCTUnwrap(try copy([.integer(1), .text("a"), .text("b"), .integer(2), .text("c")]))
        XCTAssertEqual(ragged.kind, .statementFailed, "5 values are not rows of 3")

        XCTAssertTrue(try XCTUnwrap(connection).isUsable)
        XCTAssertNil(try copy([.integer(9), .text("after"), .text("ok")]))
        XCTAssertEqual(try XCTUnwrap(connection).fetch("SELECT t FROM bulk", []).rows, [[.text("after")]])
    }

    /// A COPY on a backend that was terminated fails as a lost connection (history retries it rather than
    /// dropping the lines), and the connection says it is no longer usable, so the pool replaces it.
    func testACopyOnATerminatedBackendIsConnectionLost() throws {
        let connection = try XCTUnwrap(connection)
        guard case .postgres(let parameters) = try XCTUnwrap(database).url else { return XCTFail("not PostgreSQL") }
        let killer = try PostgresConnection(uri: parameters.uri)
        defer { killer.close() }
        try terminateBackend(of: connection, using: killer)
        do {
            try connection.copyRows(Self.copy, [.integer(1), .text("a"), .text("b")], columns: 3)
            XCTFail("a COPY on a terminated backend succeeded")
        } catch {
            XCTAssertEqual(error.kind, .connectionLost, "\(error)")
            XCTAssertTrue(error.isTransient)
            XCTAssertEqual(error.sql, Self.copy)
        }
        XCTAssertFalse(connection.isUsable)
    }
}
