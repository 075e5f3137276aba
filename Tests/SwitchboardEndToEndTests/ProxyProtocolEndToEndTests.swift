import Foundation
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

/// `haproxy:` endpoints on real sockets, with PROXY v1 and v2 headers the test writes: the real client's
/// address in the history and the per-address limit, headers from untrusted sources, malformed, lying and
/// slow headers, and `haproxy:ssl:` behind a relay of the test's own.
final class ProxyProtocolEndToEndTests: XCTestCase {
    /// A server with a plain `tcp:` endpoint (index 0, `server.port`) and `endpoint` (index 1), trusting
    /// `trusted` as proxies.
    private func startServer(
        _ directory: URL, endpoint: String = "haproxy:tcp:0:interface=127.0.0.1", trusted: [String] = ["127.0.0.0/8"],
        configure: @escaping (inout ServerConfiguration) throws -> Void = { _ in }
    ) async throws -> (InProcessServer, proxyPort: Int) {
        let parsed = try Endpoint(parsing: endpoint)
        let ranges = try trusted.map { try IPAddressRange(parsing: $0) }
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/proxy.sqlite", for: self) {
            $0.endpoints.append(parsed)
            $0.trustedProxies = ranges
            try configure(&$0)
        }
        return (server, server.port(ofEndpoint: 1))
    }

    static func v1(_ source: String, _ port: Int) -> [UInt8] {
        let family = source.contains(":") ? "TCP6" : "TCP4"
        let destination = source.contains(":") ? "::1" : "127.0.0.1"
        return Array("PROXY \(family) \(source) \(destination) \(port) 8000\r\n".utf8)
    }

    /// A v2 PROXY header for TCP over IPv6 from `source` (16 bytes) and `port`, with a TLV (an AWS-style
    /// endpoint id) the server must skip.
    static func v2IPv6(_ source: [UInt8], _ port: Int) -> [UInt8] {
        let destination = [UInt8](repeating: 0, count: 15) + [1]
        let tlv: [UInt8] = [0xEA, 0x00, 0x09, 0x01] + Array("vpce-123".utf8)
        let body = source + destination + [UInt8(port >> 8), UInt8(port & 0xFF), 0x1F, 0x40] + tlv
        return v2Signature + [0x21, 0x21, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    static let v2Signature: [UInt8] = [
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
    ]

    /// A v1 and a v2 header: each client is welcomed, its first line (sent in the same packet as the header)
    /// reaches the others, and its history row has the address the header named, not the proxy's.
    func testV1AndV2HeadersGiveTheRealClientAddress() async throws {
        let directory = try makeTemporaryDirectory()
        let (server, proxyPort) = try await startServer(directory)
        let (plain, _) = try server.join()

        let first = try LineClient(port: proxyPort)
        XCTAssertTrue(first.send(Self.v1("203.0.113.7", 51234) + Array("/nick viaone\r\n".utf8)))
        XCTAssertEqual(first.readLine()?.hasPrefix("* Welcome, guest2!"), true)
        plain.expect("* guest2 joined (2 clients connected)")
        plain.expect("* guest2 is now known as viaone")

        let address: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x42]
        let second = try LineClient(port: proxyPort)
        XCTAssertTrue(second.send(Self.v2IPv6(address, 5000) + Array("hello from v2\r\n".utf8)))
        XCTAssertEqual(second.readLine()?.hasPrefix("* Welcome, guest3!"), true)
        plain.expect("* guest3 joined (3 clients connected)")
        plain.expect("<guest3> hello from v2")

        let rows = try await server.waitForHistory { $0.count == 3 }
        let peers = Set(rows.compactMap { $0["peer"] as? String })
        XCTAssertTrue(peers.contains("203.0.113.7:51234"), "\(peers)")
        XCTAssertTrue(peers.contains("[2001:db8::42]:5000"), "\(peers)")
    }

    /// `--max-per-ip` counts the address a header names: two clients behind one proxy from different
    /// addresses both get in; a second one from the same address is refused, and the refusal's row names it.
    func testTheAddressLimitCountsTheHeadersAddressNotTheProxys() async throws {
        let directory = try makeTemporaryDirectory()
        let (server, proxyPort) = try await startServer(directory) { $0.chat.maximumClientsPerAddress = 1 }
        let alice = try LineClient(port: proxyPort)
        XCTAssertTrue(alice.send(Self.v1("198.51.100.1", 1001)))
        XCTAssertEqual(alice.readLine()?.hasPrefix("* Welcome"), true)
        let bob = try LineClient(port: proxyPort)
        XCTAssertTrue(bob.send(Self.v1("198.51.100.2", 1002)))
        XCTAssertEqual(bob.readLine()?.hasPrefix("* Welcome"), true)
        let again = try LineClient(port: proxyPort)
        XCTAssertTrue(again.send(Self.v1("198.51.100.1", 1003)))
        XCTAssertEqual(again.readUntilClosed(), ["! too many connections from your address"])
        let rows = try await server.waitForHistory { rows in rows.contains { ($0["close_reason"] as? String)?.hasPrefix("refused") == true } }
        let refusal = try XCTUnwrap(rows.first { ($0["close_reason"] as? String)?.hasPrefix("refused") == true })
        XCTAssertEqual(refusal["peer"] as? String, "198.51.100.1:1003")
    }

    /// A PROXY header from a source outside `--trusted-proxy` is not read: the connection is closed without a
    /// welcome and counted; the plain endpoint is not affected.
    func testAHeaderFromAnUntrustedSourceIsClosedWithoutAWelcome() async throws {
        let directory = try makeTemporaryDirectory()
        let (server, proxyPort) = try await startServer(directory, trusted: ["10.0.0.0/8"])
        let (plain, _) = try server.join()
        let intruder = try LineClient(port: proxyPort)
        _ = intruder.send(Self.v1("203.0.113.66", 6666) + Array("I am whoever I say\r\n".utf8))
        XCTAssertEqual(intruder.readUntilClosed(), [])
        XCTAssertEqual(server.server.frontDoorCounters.current.untrustedProxies, 1)
        plain.send("/count\r\n")
        plain.expect("* 1 client connected, 1 visit in total")
        XCTAssertFalse(server.log.text.contains("203.0.113.66"))
    }

    /// Not a header (telnet text), a header too short for its addresses, a v1 line over 107 bytes, and a
    /// header that promises more bytes than it sends (dropped after 3 s; the bound allows for a loaded
    /// machine): each is closed without a welcome and counted, and the chat goes on.
    func testMalformedLyingAndSlowHeadersAreClosedAndCounted() async throws {
        let directory = try makeTemporaryDirectory()
        let (server, proxyPort) = try await startServer(directory)
        let (plain, _) = try server.join()
        let short: [UInt8] = Self.v2Signature + [0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]
        let tooLong = Array("PROXY TCP4 ".utf8) + [UInt8](repeating: UInt8(ascii: "9"), count: 120) + [13, 10]
        for bytes in [Array("hello there\r\n".utf8), short, tooLong] {
            let client = try LineClient(port: proxyPort)
            _ = client.send(bytes)
            XCTAssertEqual(client.readUntilClosed(), [], "\(bytes.prefix(16))")
        }
        let promising: [UInt8] = Self.v2Signature + [0x21, 0x11, 0x00, 0x64] + [1, 2, 3, 4]
        let slow = try LineClient(port: proxyPort)
        let started = Date()
        _ = slow.send(promising)
        XCTAssertEqual(slow.readUntilClosed(timeout: 15), [])
        let held = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(held, 2.5, "dropped before the 3 s PROXY header limit")
        XCTAssertLessThan(held, 12, "dropped long after the 3 s PROXY header limit")
        XCTAssertEqual(server.server.frontDoorCounters.current.proxyHeadersRefused, 4)
        XCTAssertEqual(server.log.count(level: .warning, containing: "PROXY"), 0)
        plain.send("/count\r\n")
        plain.expect("* 1 client connected, 1 visit in total")
    }

    /// `haproxy:ssl:`: the header first, then the TLS handshake (a relay of the test's own writes a v2 header
    /// and passes `openssl s_client` through); the client is welcomed over TLS and recorded with the header's
    /// address. A v2 `LOCAL` header (a health check) keeps the proxy's own address.
    func testHaproxySslReadsTheHeaderThenTheHandshake() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let (server, proxyPort) = try await startServer(
            directory,
            endpoint: "haproxy:ssl:0:interface=127.0.0.1:privateKey=\(certificate.keyPath):certKey=\(certificate.certificatePath)")
        let address: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x99]
        let relay = try ProxyRelay(to: proxyPort, header: Self.v2IPv6(address, 4433))
        defer { relay.stop() }
        let secure = try OpenSSLClient(port: relay.port)
        secure.expectWelcome()
        secure.send("/quit bye now\r\n")
        XCTAssertEqual(secure.readLine(), "* bye")

        let local = try ProxyRelay(to: proxyPort, header: Self.v2Signature + [0x20, 0x00, 0x00, 0x00])
        defer { local.stop() }
        let check = try OpenSSLClient(port: local.port)
        check.expectWelcome()
        check.send("/quit health\r\n")
        // (The first client's leave may come first: its connection closes at its own pace.)
        XCTAssertEqual(check.readLines(until: { $0 == "* bye" }).last, "* bye")

        let rows = try await server.waitForHistory { rows in rows.filter { $0["close_reason"] is String }.count == 2 }
        let byReason = Dictionary(rows.compactMap { row in (row["close_reason"] as? String).map { ($0, row) } }) { a, _ in a }
        XCTAssertEqual(byReason["quit: bye now"]?["peer"] as? String, "[2001:db8::99]:4433")
        XCTAssertEqual((byReason["quit: health"]?["peer"] as? String)?.hasPrefix("127.0.0.1:"), true)
    }
}
