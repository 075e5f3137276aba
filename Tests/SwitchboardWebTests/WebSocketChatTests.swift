import Foundation
import NIOCore
import SwitchboardChat
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardTestSupport
import XCTest

@testable import SwitchboardWeb

/// `/chat` over real sockets: a browser's WebSocket is a member like a telnet client (same session layer,
/// commands, limits, history), the origin is checked, and every malformed or hostile stream is closed with
/// its code while the server chats on.
final class WebSocketChatTests: XCTestCase {
    private func telnet(_ server: WebTestServer) async throws -> RawHTTPClient {
        let client = try await RawHTTPClient.connect(port: server.chatPort)
        _ = try await client.waitFor("Welcome")
        return client
    }

    /// A WebSocket client and a telnet client see each other join, chat, rename and leave, in order; the
    /// history row says `ws:` and counts the lines.
    func testAWebSocketClientChatsWithATelnetClient() async throws {
        let server = try await WebTestServer.start(for: self)
        let bob = try await telnet(server)
        let web = try await RawWebSocketClient.connect(port: server.webPort)
        let welcome = try await web.waitFor("Welcome")
        XCTAssertTrue(welcome.last!.hasPrefix("* Welcome, guest2! 2 clients connected"), "\(welcome)")
        _ = try await bob.waitFor("* guest2 joined (2 clients connected)")
        try await web.send("/nick alice")
        try await web.waitFor("* guest2 is now known as alice")
        _ = try await bob.waitFor("* guest2 is now known as alice")
        for index in 1...5 { try await web.send("line \(index) from the browser") }
        let received = try await bob.waitFor("line 5 from the browser")
        let lines = received.components(separatedBy: "\r\n").filter { $0.hasPrefix("<alice>") }
        XCTAssertEqual(lines, (1...5).map { "<alice> line \($0) from the browser" }, "in order")
        try await bob.send("hi alice\r\n")
        try await web.waitFor("<guest1> hi alice")
        try await web.send("/who")
        try await web.waitFor("* 2 connected: alice, guest1")
        try await web.send("/quit off")
        try await web.waitFor("* bye")
        let code = try await web.closeCode()
        XCTAssertEqual(code, 1000)
        _ = try await bob.waitFor("* alice left (off) (1 client connected)")
        await bob.close()
        await server.stop()
        let connection = try DatabasePool.connector(for: server.database)()
        let rows = try HistoryRepository(dialect: server.database.dialect).connections(limit: 10, on: connection)
        let alice = try XCTUnwrap(rows.first { $0.nickname == "alice" })
        XCTAssertTrue(alice.peer.hasPrefix("ws:127.0.0.1:"), alice.peer)
        XCTAssertEqual(alice.closeReason, "quit: off")
        XCTAssertEqual(alice.linesIn, 8)
    }

    /// Another site's page cannot make its visitors join: a foreign `Origin` is 403 and never upgraded; the
    /// page's own origin, a listed one, and a client without `Origin` are let in.
    func testTheOriginIsChecked() async throws {
        let server = try await WebTestServer.start(for: self) { _ in } configureWeb: {
            $0.allowedOrigins = ["https://chat.example"]
        }
        do {
            _ = try await RawWebSocketClient.connect(port: server.webPort, origin: "https://evil.example")
            XCTFail("upgraded from a foreign origin")
        } catch RawWebSocketClientError.refused(let status) {
            XCTAssertEqual(status, 403)
        }
        for origin in ["http://127.0.0.1", "https://chat.example", nil] {
            let client = try await RawWebSocketClient.connect(port: server.webPort, origin: origin)
            try await client.waitFor("Welcome")
            await client.close()
        }
        // A broken upgrade (no key) is 400, not a WebSocket.
        let broken = try await RawHTTPClient.connect(port: server.webPort)
        try await broken.send("GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let statuses = try await broken.untilClosed().responses.map(\.status)
        XCTAssertEqual(statuses, [400])
    }

    /// Binary frames, lines over `--max-line` (whole or in fragments), fragment floods, invalid UTF-8 and
    /// unmasked frames are each closed with their code; the server chats on meanwhile.
    func testHostileFramesAreClosedWithTheirCodes() async throws {
        let server = try await WebTestServer.start(for: self) { $0.chat.maximumLineLength = 64 }
        let witness = try await telnet(server)
        let cases: [(String, UInt8, [[UInt8]], Bool, Int)] = [
            ("binary", RawWebSocketClient.binary, [[1, 2, 3]], true, 1003),
            ("one frame over --max-line", RawWebSocketClient.text, [Array(repeating: 0x61, count: 65)], true, 1009),
            ("a huge frame", RawWebSocketClient.text, [Array(repeating: 0x61, count: 70_000)], true, 1009),
            ("fragments over --max-line", RawWebSocketClient.text, Array(repeating: Array(repeating: 0x61, count: 20), count: 4), true, 1009),
            ("a flood of empty fragments", RawWebSocketClient.text, Array(repeating: [], count: 100), true, 1008),
            ("invalid UTF-8", RawWebSocketClient.text, [[0xC3, 0x28]], true, 1007),
            ("unmasked", RawWebSocketClient.text, [Array("hi".utf8)], false, 1002),
        ]
        for (name, opcode, parts, masked, expected) in cases {
            let client = try await RawWebSocketClient.connect(port: server.webPort)
            try await client.waitFor("Welcome")
            for (index, part) in parts.enumerated() {
                let last = index == parts.count - 1
                try? await client.send(opcode: index == 0 ? opcode : 0, part, fin: last, masked: masked)
            }
            let code = try await client.closeCode()
            XCTAssertEqual(code, expected, name)
            // The server chats on.
            try await witness.send("/count\r\n")
            _ = try await witness.waitFor("in total")
        }
        await witness.close()
    }

    /// A client that answers pings stays; one that does not is closed with 1001 within two ping intervals.
    func testPingsKeepALiveClientAndASilentOneIsClosed() async throws {
        let server = try await WebTestServer.start(for: self) { _ in } configureWeb: { $0.pingInterval = .milliseconds(200) }
        let lively = try await RawWebSocketClient.connect(port: server.webPort)
        try await lively.waitFor("Welcome")
        var pings = 0
        while pings < 3 {
            let frame = try await lively.next()
            if frame.opcode == RawWebSocketClient.ping {
                pings += 1
                try await lively.send(opcode: RawWebSocketClient.pong, frame.payload)
            }
        }
        try await lively.send("/count")
        try await lively.waitFor("in total")

        let silent = try await RawWebSocketClient.connect(port: server.webPort)
        let started = NIODeadline.now()
        var sawPing = false
        var code: Int?
        while code == nil {
            let frame = try await silent.next()
            if frame.opcode == RawWebSocketClient.ping { sawPing = true }
            if frame.opcode == RawWebSocketClient.close { code = frame.closeCode }
        }
        XCTAssertTrue(sawPing)
        XCTAssertEqual(code, 1001)
        XCTAssertLessThan(NIODeadline.now() - started, .seconds(10), "bounded: about three intervals (0.6 s)")
        await lively.close()
    }

    /// The chat's limits apply to browsers too: `--max-clients` counts them, and flood control drops their
    /// excess lines with one `! slow down`.
    func testTheChatsLimitsApplyToWebSocketClients() async throws {
        let server = try await WebTestServer.start(for: self) {
            $0.chat.maximumClients = 2
            $0.chat.floodRate = 1
            $0.chat.floodBurst = 3
        }
        let first = try await RawWebSocketClient.connect(port: server.webPort)
        try await first.waitFor("Welcome")
        let telnetClient = try await telnet(server)
        let third = try await RawWebSocketClient.connect(port: server.webPort)
        try await third.waitFor("! server full")
        let code = try await third.closeCode()
        XCTAssertEqual(code, 1000)

        for index in 1...10 { try await first.send("flood \(index)") }
        try await first.waitFor("! slow down")
        let seen = try await telnetClient.waitFor("<guest1> flood 3")
        XCTAssertFalse(seen.contains("flood 4"), "past the burst, lines are dropped")
        await first.close()
        await telnetClient.close()
    }
}
