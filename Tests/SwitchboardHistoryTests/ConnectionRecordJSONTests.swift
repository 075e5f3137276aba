import Foundation
import XCTest
import SwitchboardDatabase
import SwitchboardHistory

/// `switchboard history --json`'s format, pinned byte for byte.
final class ConnectionRecordJSONTests: XCTestCase {
    private let connectedAt = Timestamp(microsecondsSinceEpoch: 1_764_083_639_123_456)

    /// A closed connection: every key, sorted, snake_case, times ISO 8601 UTC, text as it is (slashes,
    /// quotes, non-ASCII).
    func testClosedConnectionJSONIsExactlyThis() throws {
        let record = ConnectionRecord(
            id: 42, peer: "[::1]:5000", nickname: "zoë", connectedAt: connectedAt,
            disconnectedAt: Timestamp(microsecondsSinceEpoch: 1_764_083_700_000_000), closeReason: "quit: a/b \"ok\"",
            linesIn: 3, linesOut: 5, bytesIn: 30, bytesOut: 500)
        XCTAssertEqual(
            try record.jsonLine(),
            #"{"bytes_in":30,"bytes_out":500,"close_reason":"quit: a/b \"ok\"","connected_at":"2025-11-25T15:13:59.123456Z","#
                + #""disconnected_at":"2025-11-25T15:15:00.000000Z","id":42,"lines_in":3,"lines_out":5,"nickname":"zoë","#
                + #""peer":"[::1]:5000"}"#)
    }

    /// An open connection: `disconnected_at`, `close_reason` and the counters are null (the counters are
    /// written when it closes), never left out.
    func testOpenConnectionJSONHasNulls() throws {
        let record = ConnectionRecord(
            id: 7, peer: "127.0.0.1:6000", nickname: nil, connectedAt: connectedAt, disconnectedAt: nil,
            closeReason: nil, linesIn: 0, linesOut: 0, bytesIn: 0, bytesOut: 0)
        XCTAssertEqual(
            try record.jsonLine(),
            #"{"bytes_in":null,"bytes_out":null,"close_reason":null,"connected_at":"2025-11-25T15:13:59.123456Z","#
                + #""disconnected_at":null,"id":7,"lines_in":null,"lines_out":null,"nickname":null,"peer":"127.0.0.1:6000"}"#)
    }

    /// Control characters are escaped, so one record stays one line; the JSON decodes back to the record.
    func testJSONIsOneLineAndDecodesBack() throws {
        let record = ConnectionRecord(
            id: 1, peer: "p", nickname: "n", connectedAt: connectedAt, disconnectedAt: connectedAt,
            closeReason: "line\nbreak\ttab\u{1}", linesIn: 1, linesOut: 2, bytesIn: 3, bytesOut: 4)
        let line = try record.jsonLine()
        XCTAssertFalse(line.contains("\n"))
        XCTAssertTrue(line.contains(#""close_reason":"line\nbreak\ttab\u0001""#), line)
        XCTAssertEqual(try JSONDecoder().decode(ConnectionRecord.self, from: Data(line.utf8)), record)
    }
}
