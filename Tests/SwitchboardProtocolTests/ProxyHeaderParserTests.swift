import NIOCore
import SwitchboardProtocol
import XCTest

/// `ProxyHeaderParser`: PROXY protocol v1 and v2 headers, whole, byte by byte and in batches, and the bytes
/// that are not one (a client that is not a proxy, a header that lies about its length, bad TLVs).
final class ProxyHeaderParserTests: XCTestCase {
    typealias Outcome = ProxyHeaderParser.Outcome

    // MARK: - Helpers shared with the fuzz tests

    /// Feeds `bytes` in chunks of `sizes` (cycled); the outcome and the absolute offset where the header
    /// ended (for a header: where the client's bytes start).
    static func parse(_ bytes: [UInt8], chunkSizes sizes: [Int] = [Int.max]) -> (outcome: Outcome, end: Int?) {
        var parser = ProxyHeaderParser()
        var offset = 0
        var index = 0
        while offset < bytes.count {
            let size = min(max(1, sizes[index % sizes.count]), bytes.count - offset)
            index += 1
            let outcome = parser.feed(Array(bytes[offset..<(offset + size)]))
            switch outcome {
            case .needMoreData:
                offset += size
            case .header(let header, let consumed):
                XCTAssertLessThanOrEqual(consumed, size)
                return (.header(header, consumed: 0), offset + consumed)
            case .invalid:
                return (outcome, nil)
            }
            XCTAssertLessThanOrEqual(parser.bufferedByteCount, ProxyHeaderParser.maximumV2Length)
        }
        return (.needMoreData, nil)
    }

    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// A v2 header: signature, version/command, family/transport, length, then `body`.
    static func v2(command: UInt8 = 1, family: UInt8 = 0x11, body: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
        let length = declaredLength ?? body.count
        return signature + [0x20 | command, family, UInt8(length >> 8), UInt8(length & 0xFF)] + body
    }

    /// The addresses part of a v2 TCP over IPv4 header: 203.0.113.7:51234 → 192.0.2.1:8000.
    static let ipv4Addresses: [UInt8] = [203, 0, 113, 7, 192, 0, 2, 1, 0xC8, 0x22, 0x1F, 0x40]

    private func address(_ ip: String, _ port: Int) -> SocketAddress { try! SocketAddress(ipAddress: ip, port: port) }

    // MARK: - Version 1

    /// A v1 TCP4 header gives the client and the server; the client's bytes after it are left alone.
    func testV1TCP4HeaderNamesTheClientAndLeavesTheRest() {
        let header = Array("PROXY TCP4 203.0.113.7 192.0.2.1 51234 8000\r\n".utf8)
        var parser = ProxyHeaderParser()
        let outcome = parser.feed(header + Array("/nick alice\r\n".utf8))
        XCTAssertEqual(outcome, .header(
            ProxyHeader(version: 1, source: address("203.0.113.7", 51234), destination: address("192.0.2.1", 8000)),
            consumed: header.count))
        // A finished parser repeats its outcome and takes nothing more.
        guard case .header(_, let consumed) = parser.feed([1, 2, 3]) else { return XCTFail("outcome changed") }
        XCTAssertEqual(consumed, 0)
    }

    /// Byte by byte, the header is complete exactly at its LF; every byte before says "more".
    func testV1DripFedIsCompleteAtItsLastByte() {
        let header = Array("PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n".utf8)
        var parser = ProxyHeaderParser()
        for byte in header.dropLast() { XCTAssertEqual(parser.feed([byte]), .needMoreData) }
        XCTAssertEqual(parser.feed([header.last!, 0x41]), .header(
            ProxyHeader(version: 1, source: address("2001:db8::1", 4000), destination: address("2001:db8::2", 443)),
            consumed: 1))
    }

    /// `PROXY UNKNOWN` (with or without addresses after it) names no client.
    func testV1UnknownNamesNoClient() {
        for text in ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"] {
            XCTAssertEqual(Self.parse(Array(text.utf8)).outcome,
                           .header(ProxyHeader(version: 1, source: nil, destination: nil), consumed: 0), text)
        }
    }

    /// Malformed v1 lines are refused, each with what is wrong.
    func testMalformedV1LinesAreRefused() {
        let cases: [(String, ProxyHeaderError)] = [
            ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", .malformedV1("the line must end in CRLF")),
            ("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
             .malformedV1("expected PROXY TCP4|TCP6 SOURCE DESTINATION SPORT DPORT, single spaces")),
            ("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
             .malformedV1("expected PROXY TCP4|TCP6 SOURCE DESTINATION SPORT DPORT, single spaces")),
            ("PROXY TCP4 ::1 ::2 1 2\r\n", .malformedV1("addresses must be IPv4 for TCP4")),
            ("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", .malformedV1("addresses must be IPv6 for TCP6")),
            ("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", .malformedV1("addresses must be IPv4 for TCP4")),
            ("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", .malformedV1("ports are decimal numbers from 0 to 65535")),
            ("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", .malformedV1("ports are decimal numbers from 0 to 65535")),
            ("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", .malformedV1("the protocol must be TCP4, TCP6 or UNKNOWN")),
            ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\u{7F}\r\n", .malformedV1("only printable ASCII is allowed")),
        ]
        for (text, error) in cases {
            XCTAssertEqual(Self.parse(Array(text.utf8)).outcome, .invalid(error), text.debugDescription)
            XCTAssertEqual(Self.parse(Array(text.utf8), chunkSizes: [1]).outcome, .invalid(error), text.debugDescription)
        }
    }

    /// A v1 line that reaches 107 bytes without its CRLF is refused there, never buffered further.
    func testV1LineIsRefusedAt107Bytes() {
        var parser = ProxyHeaderParser()
        let line = Array("PROXY TCP4 ".utf8) + [UInt8](repeating: UInt8(ascii: "1"), count: 200)
        var refusedAt: Int?
        for (index, byte) in line.enumerated() {
            if case .invalid(let error) = parser.feed([byte]) {
                XCTAssertEqual(error, .v1LineTooLong)
                refusedAt = index + 1
                break
            }
        }
        XCTAssertEqual(refusedAt, ProxyHeaderParser.maximumV1Length)
    }

    /// A client that is not a proxy is refused on its first byte that cannot start a header: telnet text,
    /// an HTTP request, a TLS ClientHello, a near miss of either signature.
    func testANonProxyClientIsRefusedAtTheFirstWrongByte() {
        let cases: [([UInt8], Int)] = [
            (Array("hello\r\n".utf8), 1),
            (Array("GET / HTTP/1.1\r\n".utf8), 1),
            ([22, 3, 1, 0, 200], 1),
            (Array("PROXX TCP4".utf8), 5),
            (Array("PROXY\r\n".utf8), 6),
            ([0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B], 12),
            ([0x0D, 0x0A, 0x0A], 3),
        ]
        for (bytes, decidedAt) in cases {
            var parser = ProxyHeaderParser()
            for (index, byte) in bytes.enumerated() {
                let outcome = parser.feed([byte])
                if index + 1 < decidedAt {
                    XCTAssertEqual(outcome, .needMoreData, "\(bytes) at \(index)")
                } else {
                    XCTAssertEqual(outcome, .invalid(.notAProxyHeader), "\(bytes) at \(index)")
                    break
                }
            }
        }
    }

    // MARK: - Version 2

    /// A v2 PROXY header over IPv4 with TLVs after the addresses: the client, the server, TLVs skipped, the
    /// client's bytes left; the same under every split.
    func testV2IPv4HeaderWithTLVsNamesTheClientUnderEverySplit() {
        let tlvs: [UInt8] = [0x02, 0x00, 0x05] + Array("a.com".utf8) + [0x04, 0x00, 0x00] + [0xEA, 0x00, 0x02, 1, 2]
        let header = Self.v2(body: Self.ipv4Addresses + tlvs)
        let expected = ProxyHeader(version: 2, source: address("203.0.113.7", 51234), destination: address("192.0.2.1", 8000))
        let input = header + Array("hi\r\n".utf8)
        for split in 1...input.count {
            let (outcome, end) = Self.parse(input, chunkSizes: [split])
            XCTAssertEqual(outcome, .header(expected, consumed: 0), "split \(split)")
            XCTAssertEqual(end, header.count, "split \(split)")
        }
    }

    /// A v2 header over IPv6 names an IPv6 client.
    func testV2IPv6HeaderNamesTheClient() {
        let source: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [7]
        let destination: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]
        let header = Self.v2(family: 0x21, body: source + destination + [0x13, 0x88, 0x01, 0xBB])
        XCTAssertEqual(Self.parse(header).outcome, .header(
            ProxyHeader(version: 2, source: address("2001:db8::7", 5000), destination: address("2001:db8::1", 443)),
            consumed: 0))
    }

    /// LOCAL (the proxy's own health check), UNSPEC and Unix-socket headers name no client.
    func testV2LocalUnspecAndUnixNameNoClient() {
        let none = Outcome.header(ProxyHeader(version: 2, source: nil, destination: nil), consumed: 0)
        XCTAssertEqual(Self.parse(Self.v2(command: 0, family: 0x00, body: [])).outcome, none)
        XCTAssertEqual(Self.parse(Self.v2(command: 0, family: 0x11, body: Self.ipv4Addresses)).outcome, none)
        XCTAssertEqual(Self.parse(Self.v2(family: 0x00, body: [])).outcome, none)
        XCTAssertEqual(Self.parse(Self.v2(family: 0x31, body: [UInt8](repeating: 0, count: 216))).outcome, none)
    }

    /// A zero-length header ends at its 16th byte: what follows is the client's.
    func testV2ZeroLengthHeaderEndsAtItsSixteenthByte() {
        let header = Self.v2(command: 0, family: 0, body: [])
        XCTAssertEqual(header.count, 16)
        XCTAssertEqual(Self.parse(header + [1, 2, 3]).end, 16)
        XCTAssertEqual(Self.parse(header + [1, 2, 3], chunkSizes: [5]).end, 16)
    }

    /// Headers that lie about their length are refused: too short for the addresses their family needs (at
    /// once), longer than the 4 KiB accepted (at the length field, before anything is buffered), or with a
    /// TLV running past the end.
    func testV2HeadersThatLieAboutTheirLengthAreRefused() {
        XCTAssertEqual(Self.parse(Self.v2(body: [1, 2, 3, 4])).outcome, .invalid(.v2LengthTooShort(declared: 4, needed: 12)))
        XCTAssertEqual(Self.parse(Self.v2(family: 0x21, body: Self.ipv4Addresses)).outcome,
                       .invalid(.v2LengthTooShort(declared: 12, needed: 36)))
        var parser = ProxyHeaderParser()
        XCTAssertEqual(parser.feed(Self.v2(body: [], declaredLength: 0xFFFF)), .invalid(.v2TooLong(declared: 0xFFFF)))
        XCTAssertEqual(Self.parse(Self.v2(body: Self.ipv4Addresses + [0x01, 0x00, 0x09, 1, 2])).outcome, .invalid(.malformedTLV))
        XCTAssertEqual(Self.parse(Self.v2(body: Self.ipv4Addresses + [0x01, 0x00])).outcome, .invalid(.malformedTLV))
        // A length that promises more than is sent is simply incomplete: the handler's 3 s limit ends it.
        XCTAssertEqual(Self.parse(Self.v2(body: Self.ipv4Addresses, declaredLength: 100)).outcome, .needMoreData)
    }

    /// Other versions, commands, families and transports are refused.
    func testV2UnknownVersionsCommandsAndFamiliesAreRefused() {
        var version1 = Self.v2(body: Self.ipv4Addresses)
        version1[12] = 0x11
        XCTAssertEqual(Self.parse(version1).outcome, .invalid(.unsupportedVersion(1)))
        XCTAssertEqual(Self.parse(Self.v2(command: 2, body: Self.ipv4Addresses)).outcome, .invalid(.unsupportedCommand(2)))
        XCTAssertEqual(Self.parse(Self.v2(family: 0x41, body: Self.ipv4Addresses)).outcome,
                       .invalid(.unsupportedAddressFamily(0x41)))
        XCTAssertEqual(Self.parse(Self.v2(family: 0x13, body: Self.ipv4Addresses)).outcome,
                       .invalid(.unsupportedAddressFamily(0x13)))
    }

    /// Every error reads as one line.
    func testErrorsAreOneLine() {
        let errors: [ProxyHeaderError] = [
            .notAProxyHeader, .v1LineTooLong, .malformedV1("x"), .unsupportedVersion(3), .unsupportedCommand(4),
            .unsupportedAddressFamily(0x51), .v2LengthTooShort(declared: 1, needed: 12), .v2TooLong(declared: 9999),
            .malformedTLV,
        ]
        for error in errors {
            XCTAssertFalse(error.description.isEmpty)
            XCTAssertFalse(error.description.contains("\n"))
        }
        XCTAssertEqual(ProxyHeaderError.v2LengthTooShort(declared: 4, needed: 12).description,
                       "PROXY v2 header declares 4 bytes but its addresses need 12")
    }
}
