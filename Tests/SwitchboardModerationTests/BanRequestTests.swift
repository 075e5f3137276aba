import SwitchboardModeration
import XCTest

/// `/ban`'s argument taken apart: subject, `--nick`, duration, reason; and every malformed one refused.
final class BanRequestTests: XCTestCase {
    func testShapes() throws {
        XCTAssertEqual(try BanRequest(parsing: "bob"), BanRequest(subject: .nickname("bob")))
        XCTAssertEqual(
            try BanRequest(parsing: "bob --nick 2h spamming the  room"),
            BanRequest(subject: .nickname("bob"), includesNickname: true, duration: ModerationDuration(seconds: 7_200),
                       reason: "spamming the room"))
        XCTAssertEqual(
            try BanRequest(parsing: "10.0.0.0/8 flood"),
            BanRequest(subject: .target(try BanTarget(parsingAddress: "10.0.0.0/8")), reason: "flood"))
        XCTAssertEqual(try BanRequest(parsing: "2001:db8::5 1d").subject, .target(try BanTarget(parsingAddress: "2001:db8::/64")))
        XCTAssertEqual(try BanRequest(parsing: "bob reason 5m").reason, "reason 5m", "a duration comes before the reason")
    }

    func testBadRequestsAreRefused() {
        let cases: [(String, String)] = [
            ("", "usage: /ban"), ("   ", "usage: /ban"), ("10.0.0.0/33", "prefix length"), ("::/0", "wider than /32"),
            ("bob -1", "invalid duration '-1'"), ("bob 99999999999d", "longer than 10 years"), ("bob 1x", "unknown unit"),
            ("10.0.0.1 --nick", "--nick bans a nickname"), ("b!b", "invalid nickname"), ("10.0.0", "not an IPv4"),
        ]
        for (argument, reason) in cases {
            XCTAssertThrowsError(try BanRequest(parsing: argument), argument) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(argument): \(error)")
            }
        }
    }
}
