import Foundation
import NIOConcurrencyHelpers
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `ssl:` endpoints with real TLS clients (`openssl s_client`, certificates made by `openssl req`): the chat
/// over TLS, handshakes that count against the limits and time out, and what hostile TLS clients get.
/// Certificate loading and reloading with the real binary are in ``TLSCertificateEndToEndTests``.
final class TLSEndToEndTests: XCTestCase {
    /// A server on 127.0.0.1 with a plain `tcp:` endpoint (index 0, `server.port`) and an `ssl:` one (index 1).
    private func startServer(
        _ directory: URL, certificate: TestCertificate,
        configure: @escaping (inout ServerConfiguration) throws -> Void = { _ in }
    ) async throws -> (InProcessServer, tlsPort: Int) {
        let endpoint = try Endpoint(
            parsing: "ssl:0:interface=127.0.0.1:privateKey=\(certificate.keyPath):certKey=\(certificate.certificatePath)")
        let server = try await InProcessServer.start(database: "sqlite:\(directory.path)/tls.sqlite", for: self) {
            $0.endpoints.append(endpoint)
            try configure(&$0)
        }
        return (server, server.port(ofEndpoint: 1))
    }

    // MARK: - The chat over TLS

    /// Over TLS the chat is the same chat: the welcome, lines both ways with a plain telnet client, the
    /// telnet answers (IAC DO TIMING-MARK gets IAC WILL TIMING-MARK), /who, and the history row has the
    /// TLS client's address.
    func testTheChatOverTLSIsTheSameChat() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let (server, tlsPort) = try await startServer(directory, certificate: certificate)

        let secure = try OpenSSLClient(port: tlsPort)
        let welcome = secure.expectWelcome()
        XCTAssertTrue(welcome.hasPrefix("* Welcome, guest1! 1 client connected"), welcome)
        let (plain, _) = try server.join()
        XCTAssertEqual(secure.readLine(), "* guest2 joined (2 clients connected)")

        secure.send("hello in private\r\n")
        plain.expect("<guest1> hello in private")
        plain.send("and in the clear\r\n")
        XCTAssertEqual(secure.readLine(), "<guest2> and in the clear")

        secure.send([255, 253, 6])  // IAC DO TIMING-MARK, as telnet sends after Ctrl-C
        XCTAssertEqual(secure.readBytes(3), [255, 251, 6])
        secure.send("/who\r\n")
        XCTAssertEqual(secure.readLine(), "* 2 connected: guest1, guest2")

        secure.send("/quit done\r\n")
        XCTAssertEqual(secure.readLine(), "* bye")
        XCTAssertTrue(secure.waitUntilClosed())
        plain.expect("* guest1 left (done) (1 client connected)")
        let rows = try await server.waitForHistory { rows in rows.contains { $0["close_reason"] as? String == "quit: done" } }
        let row = try XCTUnwrap(rows.first { $0["close_reason"] as? String == "quit: done" })
        XCTAssertEqual((row["peer"] as? String)?.hasPrefix("127.0.0.1:"), true, "\(row)")
        XCTAssertEqual(row["lines_in"] as? Int, 3, "\(row)")
    }

    // MARK: - Handshakes and the limits

    /// A ClientHello and then silence: the handshake holds a place under `--max-clients` while it lasts (a
    /// TLS client arriving meanwhile is told `! server full` over TLS, and that refusal is recorded); when
    /// it goes, the place is free again. (The handshake timeout is long here, so a slow machine cannot end
    /// the handshake before the second client arrives; the next test lets it expire.)
    func testAHandshakeInProgressHoldsAPlaceUnderTheClientLimit() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let (server, tlsPort) = try await startServer(directory, certificate: certificate) {
            $0.chat.maximumClients = 1
            $0.tlsHandshakeTimeout = .seconds(300)
        }
        let hello = try RecordedClientHello.record()
        let silent = try LineClient(port: tlsPort)
        XCTAssertTrue(silent.send(hello))
        // The server's answer (ServerHello …) shows it has accepted and admitted this connection.
        XCTAssertTrue(waitForBytes(silent), "no ServerHello")

        let refused = try OpenSSLClient(port: tlsPort)
        XCTAssertEqual(refused.readLine(), "! server full")
        XCTAssertTrue(refused.waitUntilClosed())
        silent.abort()
        let next = try await eventually { () -> String? in
            let client = try OpenSSLClient(port: tlsPort)
            let line = client.readLine()
            return line?.hasPrefix("* Welcome") == true ? line : nil
        }
        XCTAssertEqual(next?.contains("1 client connected"), true)
        // Two rows: the refusal and the client welcomed after; the silent handshake left none.
        let rows = try await server.waitForHistory { rows in rows.count >= 2 }
        XCTAssertEqual(rows.count, 2, "\(rows)")
        XCTAssertEqual(rows.compactMap { $0["close_reason"] as? String }.filter { $0.hasPrefix("refused") },
                       ["refused: server full"], "\(rows)")
    }

    /// A ClientHello and then silence is dropped after `--tls-handshake-timeout` (1 s here; the bound allows
    /// for a loaded machine), counted, with no row; a client after it is welcomed in its place.
    func testAClientHelloAndSilenceIsDroppedAtTheHandshakeTimeout() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let (server, tlsPort) = try await startServer(directory, certificate: certificate) {
            $0.chat.maximumClients = 1
            $0.tlsHandshakeTimeout = .seconds(1)
        }
        let hello = try RecordedClientHello.record()
        let silent = try LineClient(port: tlsPort)
        let started = Date()
        XCTAssertTrue(silent.send(hello))
        XCTAssertTrue(waitUntilClosed(silent, timeout: 30), "the silent handshake was not dropped")
        let held = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(held, 0.9, "dropped before --tls-handshake-timeout")
        XCTAssertLessThan(held, 15, "dropped long after --tls-handshake-timeout (1 s)")
        XCTAssertEqual(server.server.frontDoorCounters.current.tlsHandshakesTimedOut, 1)
        let next = try OpenSSLClient(port: tlsPort)
        XCTAssertTrue(next.expectWelcome().contains("1 client connected"))
        let rows = try await server.waitForHistory { !$0.isEmpty }
        XCTAssertEqual(rows.count, 1, "\(rows)")  // the welcomed client only: the dropped one left no row
    }

    /// A handshake in progress counts against `--max-per-ip` too.
    func testAHandshakeInProgressCountsAgainstTheAddressLimit() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let (_, tlsPort) = try await startServer(directory, certificate: certificate) {
            $0.chat.maximumClientsPerAddress = 1
            $0.tlsHandshakeTimeout = .seconds(300)  // the silent handshake must outlast the second client's
        }
        let hello = try RecordedClientHello.record()
        let silent = try LineClient(port: tlsPort)
        XCTAssertTrue(silent.send(hello))
        XCTAssertTrue(waitForBytes(silent), "no ServerHello")

        let refused = try OpenSSLClient(port: tlsPort)
        XCTAssertEqual(refused.readLine(), "! too many connections from your address")
        silent.abort()
        // Its place is given back when it goes.
        let again = try await eventually { () -> String? in
            let client = try OpenSSLClient(port: tlsPort)
            let line = client.readLine()
            return line?.hasPrefix("* Welcome") == true ? line : nil
        }
        XCTAssertNotNil(again)
    }

    // MARK: - Hostile TLS clients

    /// Garbage instead of a ClientHello (an HTTP request, random bytes) is closed without a word, counted as a
    /// failed handshake and logged at debug level only; it gets no row, and the chat goes on.
    func testGarbageInsteadOfAClientHelloIsClosedCountedAndOnlyLoggedAtDebug() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let (server, tlsPort) = try await startServer(directory, certificate: certificate) {
            $0.tlsHandshakeTimeout = .seconds(2)
        }
        let (plain, _) = try server.join()

        var random = SplitMix64(seed: 0x7157)
        let garbage: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            (0..<3000).map { _ in UInt8(truncatingIfNeeded: random.next()) },
            [22, 3, 1, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 200),  // a record header that lies about its length
        ]
        for bytes in garbage {
            let client = try LineClient(port: tlsPort)
            _ = client.send(bytes)
            XCTAssertTrue(waitUntilClosed(client, timeout: 15), "not closed after \(bytes.prefix(8))")
        }
        // Each is refused at once, or (a record promising more than it sends) dropped at the handshake timeout.
        let counted = try await eventually { () -> FrontDoorCounters.Counts? in
            let counts = server.server.frontDoorCounters.current
            return counts.tlsHandshakesFailed + counts.tlsHandshakesTimedOut == 3 ? counts : nil
        }
        XCTAssertNotNil(counted, "\(server.server.frontDoorCounters.current)")
        XCTAssertEqual(server.log.count(level: .warning, containing: "TLS"), 0)
        XCTAssertEqual(server.log.count(level: .error, containing: "TLS"), 0)
        XCTAssertGreaterThanOrEqual(server.log.count(level: .debug, containing: "TLS handshake failed"), 2)

        plain.send("/count\r\n")
        plain.expect("* 1 client connected, 1 visit in total")
        // History is written in order: once the chatting client's row is there, no other row came before it.
        let rows = try await server.waitForHistory { !$0.isEmpty }
        XCTAssertEqual(rows.count, 1, "\(rows)")
    }

    /// 5 000 handshakes opened and abandoned (100 at a time; some closed at once, some after half a
    /// ClientHello, some reset) are each counted and leave no place taken: afterwards `--max-clients` (50)
    /// clients still fit, a TLS client among them, and the 51st is refused. A client chatting meanwhile
    /// misses nothing.
    func testFiveThousandAbandonedHandshakesLeaveNothingBehind() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let (server, tlsPort) = try await startServer(directory, certificate: certificate) {
            $0.chat.maximumClients = 50
            $0.chat.floodRate = 0  // the chatting client says a line a wave
        }
        let hello = try RecordedClientHello.record()
        let (alice, _) = try server.join()
        let (bob, _) = try server.join()
        alice.expect("* guest2 joined (2 clients connected)")

        var said = 0
        for wave in 0..<50 {
            var clients: [LineClient] = []
            for _ in 0..<100 { clients.append(try LineClient(port: tlsPort)) }
            for (index, client) in clients.enumerated() {
                switch (wave + index) % 3 {
                case 0: client.close()
                case 1:
                    _ = client.send(Array(hello.prefix(hello.count / 2)), timeout: 5)
                    client.close()
                default: client.abort()
                }
            }
            alice.send("wave \(wave)\r\n")
            said += 1
        }
        for wave in 0..<said { bob.expect("<guest1> wave \(wave)") }

        let counted = try await eventually { () -> FrontDoorCounters.Counts? in
            let counts = server.server.frontDoorCounters.current
            return counts.tlsHandshakesFailed == 5_000 ? counts : nil
        }
        XCTAssertNotNil(counted, "\(server.server.frontDoorCounters.current)")
        XCTAssertEqual(server.log.count(level: .warning, containing: ""), 0, server.log.text.suffix(2000).description)

        var fillers: [LineClient] = []
        for _ in 0..<47 {
            let (client, _) = try server.join()
            fillers.append(client)
        }
        let secure = try OpenSSLClient(port: tlsPort)
        XCTAssertTrue(secure.expectWelcome().contains("50 clients connected"))
        let extra = try LineClient(port: server.port)
        XCTAssertEqual(extra.readLine(), "! server full")
    }

    /// A TLS 1.2 client asking to renegotiate is refused (BoringSSL does not renegotiate as a server) and
    /// loses its connection; everyone else chats on.
    func testRenegotiationIsRefusedAndTheChatGoesOn() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let (server, tlsPort) = try await startServer(directory, certificate: certificate)
        let (plain, _) = try server.join()

        let renegotiating = try OpenSSLClient(port: tlsPort, quiet: false, extraArguments: ["-tls1_2"])
        XCTAssertNotNil(renegotiating.readLines(until: { $0.hasPrefix("* Welcome") }).last)
        plain.expect("* guest2 joined (2 clients connected)")
        renegotiating.send("R\n")  // s_client's renegotiate command
        XCTAssertTrue(renegotiating.waitUntilClosed(timeout: 15), "the renegotiating connection stayed open")
        plain.expect("* guest2 left (connection closed) (1 client connected)")

        let other = try OpenSSLClient(port: tlsPort, extraArguments: ["-tls1_2"])
        other.expectWelcome()
        plain.readLines(until: { $0.hasSuffix("joined (2 clients connected)") }).forEach { _ in }
        other.send("still here\r\n")
        XCTAssertEqual(plain.readLines(until: { $0.hasSuffix("still here") }).last?.hasSuffix("> still here"), true)
    }

    /// TLS older than 1.2 is refused at the handshake.
    func testTLSOlderThan12IsRefused() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let (server, tlsPort) = try await startServer(directory, certificate: certificate)
        let old = try OpenSSLClient(port: tlsPort, extraArguments: ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
        XCTAssertNil(old.readLine(timeout: 15))
        XCTAssertTrue(old.waitUntilClosed())
        let counted = try await eventually {
            server.server.frontDoorCounters.current.tlsHandshakesFailed == 1 ? true : nil
        }
        XCTAssertEqual(counted, true)
    }

    // MARK: - Helpers

    /// Reads whatever arrives until the server closes `client` or `timeout` passes; whether it closed, and
    /// without a welcome.
    private func waitUntilClosed(_ client: LineClient, timeout: TimeInterval) -> Bool {
        let lines = client.readUntilClosed(timeout: timeout)
        XCTAssertFalse(lines.contains { $0.contains("Welcome") }, "\(lines)")
        return client.isClosedByServer
    }

    /// Waits (bounded) until the server has sent `client` something.
    private func waitForBytes(_ client: LineClient, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while client.bytesReceived == 0 && !client.isClosedByServer && Date() < deadline {
            _ = client.readLine(timeout: max(0, deadline.timeIntervalSinceNow))
        }
        return client.bytesReceived > 0
    }

    /// `body`'s first non-nil result, polled every 20 ms for up to `timeout` seconds (nil if none).
    private func eventually<T>(timeout: TimeInterval = 30, _ body: () throws -> T?) async throws -> T? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let value = try body() { return value }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return try body()
    }
}
