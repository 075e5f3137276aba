import NIOCore
import SwitchboardModeration
import XCTest

/// What `/ban ADDRESS|CIDR` accepts, how it is stored, and every bad target refused with a reason.
final class BanTargetTests: XCTestCase {
    private func text(_ input: String) throws -> String {
        try BanTarget(parsingAddress: input).storedText
    }

    /// IPv4 hosts and blocks as given; a bare IPv6 address as its /64; IPv4-mapped IPv6 as IPv4.
    func testTargetsAreCanonical() throws {
        XCTAssertEqual(try text("10.1.2.3"), "10.1.2.3/32")
        XCTAssertEqual(try text("10.1.0.0/16"), "10.1.0.0/16")
        XCTAssertEqual(try text("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64")
        XCTAssertEqual(try text("[2001:db8::7]"), "2001:db8::/64")
        XCTAssertEqual(try text("2001:db8::/48"), "2001:db8::/48")
        XCTAssertEqual(try text("2001:db8::1/128"), "2001:db8::1/128", "an explicit /128 is one address")
        XCTAssertEqual(try text("::ffff:10.1.2.3"), "10.1.2.3/32")
        XCTAssertEqual(try text("::ffff:10.1.0.0/112"), "10.1.0.0/16")
        XCTAssertEqual(try BanTarget(parsingAddress: "10.1.2.3").description, "10.1.2.3")
    }

    /// `10.0.0.0/33`, `::/0` (the examples) and their kin.
    func testBadTargetsAreRefusedWithAReason() {
        let cases: [(String, String)] = [
            ("10.0.0.0/33", "prefix length must be from 0 to 32"), ("::/0", "wider than /32"),
            ("0.0.0.0/0", "wider than /8"), ("10.0.0.0/7", "wider than /8"), ("2001::/31", "wider than /32"),
            ("10.0.0.1/8", "host bits are set"), ("bob", "not an IPv4 or IPv6 address"),
            ("10.0.0.1\u{202E}", "not an IPv4 or IPv6 address"), ("10.0.0.0/-1", "prefix length"),
            ("10.0.0.0/", "prefix length"), ("", "not an IPv4"), ("10.0.0.0/８", "prefix length"),
        ]
        for (input, reason) in cases {
            XCTAssertThrowsError(try BanTarget(parsingAddress: input), input) { error in
                let message = (error as? ModerationInputError)?.message ?? "\(error)"
                XCTAssertTrue(message.contains(reason), "\(input): \(message)")
            }
        }
    }

    /// A connected client is banned by its IPv4 address or its IPv6 /64; a Unix socket has none.
    func testClientTargets() throws {
        XCTAssertEqual(BanTarget(client: try SocketAddress(ipAddress: "192.0.2.7", port: 5))?.storedText, "192.0.2.7/32")
        XCTAssertEqual(BanTarget(client: try SocketAddress(ipAddress: "::ffff:192.0.2.7", port: 5))?.storedText, "192.0.2.7/32")
        XCTAssertEqual(BanTarget(client: try SocketAddress(ipAddress: "2001:db8::99", port: 5))?.storedText, "2001:db8::/64")
        XCTAssertNil(BanTarget(client: try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")))
    }

    /// Rows round-trip; rows not written by Switchboard (edited by hand) are not targets.
    func testStoredRows() throws {
        for input in ["10.1.2.3", "10.0.0.0/8", "2001:db8::/64"] {
            let target = try BanTarget(parsingAddress: input)
            XCTAssertEqual(BanTarget(kind: target.kind, storedText: target.storedText), target)
        }
        XCTAssertEqual(BanTarget(kind: "nickname", storedText: "bob"), .nickname("bob"))
        for (kind, text) in [("network", "10.0.0.1/8"), ("network", "::ffff:1.2.3.4/128"), ("network", "junk"),
                             ("nickname", "Bob"), ("nickname", "b b"), ("nickname", ""), ("other", "10.0.0.0/8")] {
            XCTAssertNil(BanTarget(kind: kind, storedText: text), "\(kind) \(text)")
        }
    }
}
