import NIOCore
import SwitchboardProtocol
import XCTest

/// `IPAddressRange`: `--trusted-proxy` values in CIDR notation, and which addresses they hold.
final class IPAddressRangeTests: XCTestCase {
    private func address(_ ip: String) -> SocketAddress { try! SocketAddress(ipAddress: ip, port: 1234) }

    /// An IPv4 block holds its addresses and no others; a bare address is one host.
    func testIPv4BlocksHoldTheirAddresses() throws {
        let block = try IPAddressRange(parsing: "10.1.0.0/16")
        XCTAssertTrue(block.contains(address("10.1.0.0")))
        XCTAssertTrue(block.contains(address("10.1.255.254")))
        XCTAssertFalse(block.contains(address("10.2.0.1")))
        XCTAssertFalse(block.contains(address("::1")))
        let host = try IPAddressRange(parsing: "192.0.2.7")
        XCTAssertEqual(host.description, "192.0.2.7/32")
        XCTAssertTrue(host.contains(address("192.0.2.7")))
        XCTAssertFalse(host.contains(address("192.0.2.8")))
        XCTAssertTrue(try IPAddressRange(parsing: "0.0.0.0/0").contains(address("203.0.113.9")))
    }

    /// A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`; IPv4 blocks hold those too.
    func testIPv4BlocksHoldIPv4MappedAddresses() throws {
        XCTAssertTrue(try IPAddressRange(parsing: "127.0.0.0/8").contains(address("::ffff:127.0.0.1")))
        XCTAssertFalse(try IPAddressRange(parsing: "10.0.0.0/8").contains(address("::ffff:127.0.0.1")))
    }

    /// IPv6 blocks, with or without brackets, prefix lengths that are not multiples of 8 included.
    func testIPv6Blocks() throws {
        let block = try IPAddressRange(parsing: "2001:db8::/33")
        XCTAssertTrue(block.contains(address("2001:db8:7fff::1")))
        XCTAssertFalse(block.contains(address("2001:db8:8000::1")))
        XCTAssertFalse(block.contains(address("10.0.0.1")))
        XCTAssertEqual(try IPAddressRange(parsing: "[::1]").description, "::1/128")
        XCTAssertEqual(try IPAddressRange(parsing: "fd00::/8").description, "fd00::/8")
    }

    /// Unix sockets are in no range.
    func testUnixSocketsAreInNoRange() throws {
        XCTAssertFalse(try IPAddressRange(parsing: "0.0.0.0/0").contains(try SocketAddress(unixDomainSocketPath: "/tmp/x")))
    }

    /// Bad values say what is wrong; host bits after the prefix are refused with the block meant.
    func testBadRangesAreRefusedWithTheReason() {
        let cases: [(String, String)] = [
            ("", "not an IPv4 or IPv6 address"),
            ("proxy.example", "not an IPv4 or IPv6 address"),
            ("10.0.0.0/33", "the prefix length must be from 0 to 32"),
            ("::/129", "the prefix length must be from 0 to 128"),
            ("10.0.0.0/x", "the prefix length must be from 0 to 32"),
            ("10.0.0.0/", "the prefix length must be from 0 to 32"),
            ("10.0.0.1/8", "host bits are set after /8; did you mean 10.0.0.0/8?"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try IPAddressRange(parsing: text), text) { error in
                XCTAssertEqual((error as? IPAddressRangeError)?.reason, reason, text)
                XCTAssertEqual("\(error)", "invalid address range '\(text)': \(reason)")
            }
        }
    }
}
