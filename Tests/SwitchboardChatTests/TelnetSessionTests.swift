import NIOCore
import SwitchboardProtocol
import XCTest

/// Telnet as a real client speaks it (bytes captured from inetutils telnet 2.4), through a session.
final class TelnetSessionTests: XCTestCase {
    private func rawOutput(_ client: ChatTestHarness.Client) throws -> [UInt8] {
        client.channel.embeddedEventLoop.run()
        var bytes: [UInt8] = []
        while let buffer = try client.channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }

    /// Ctrl-C sends `IAC IP IAC DO TIMING-MARK`; telnet then shows nothing until the server answers
    /// `IAC WILL TIMING-MARK`. The answer goes out raw, and the chat goes on for that user.
    func testCtrlCIsAnsweredSoTheUserKeepsSeeingTheChat() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send([0xff, 0xf4, 0xff, 0xfd, 0x06])
        XCTAssertEqual(try rawOutput(alice), [0xff, 0xfb, 0x06])
        try bob.send("still there?\r\n")
        XCTAssertEqual(try alice.lines(), ["<guest2> still there?"])
        XCTAssertEqual(chat.history.closed.count, 0)
    }

    /// `abc`, Ctrl-C (IAC IP), `def`: the interrupted partial line is dropped.
    func testInterruptDropsThePartialLine() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send(Array("abc".utf8) + [0xff, 0xf4] + Array("def\r\n".utf8))
        XCTAssertEqual(try bob.lines(), ["<guest1> def"])
    }

    /// `IAC AYT` gets a line; other options are refused once (no loops); erase character works.
    func testAreYouThereRefusalsAndErase() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send([0xff, 0xf6])
        XCTAssertEqual(try alice.lines(), ["* yes, still here"])
        try alice.send([0xff, 0xfd, 0x03, 0xff, 0xfd, 0x01, 0xff, 0xfd, 0x03])  // `mode character`, twice
        XCTAssertEqual(try rawOutput(alice), [0xff, 0xfc, 0x03, 0xff, 0xfc, 0x01])
        try alice.send(Array("hellx".utf8) + [0xff, 0xf7] + Array("o\r\n".utf8))
        XCTAssertEqual(try bob.lines(), ["<guest1> hello"])
    }

    /// `/history 0` and `/history 500` are both clamped, with a note first.
    func testHistoryOutOfRangeIsClampedWithANote() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        try alice.send("/history 0\r\n/history 500\r\n")
        XCTAssertEqual(try alice.lines(), [
            "* /history shows 1 to 200 lines; showing 1", "* end of history",
            "* /history shows 1 to 200 lines; showing 200", "* end of history",
        ])
    }
}

/// The session knows lines, not telnet: another transport hands it ``LineInput`` and the chat is the same.
final class LineTransportTests: XCTestCase {
    func testASessionWithoutTelnetFramingChatsWithTelnetClients() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let browser = try chat.connect(telnet: false)
        XCTAssertEqual(try browser.lines().first?.hasPrefix("* Welcome, guest2! 2 clients connected"), true)
        _ = try alice.lines()
        try browser.channel.writeInbound(LineInput.received(bytes: 9))
        try browser.channel.writeInbound(LineInput.line(Array("hi there".utf8)))
        XCTAssertEqual(try alice.lines(), ["<guest2> hi there"])
        // Bytes that would be telnet commands are just text here (sanitised like any line).
        try browser.channel.writeInbound(LineInput.line([0xff, 0xf4] + Array("x".utf8)))
        XCTAssertEqual(try alice.lines().count, 1)
        try browser.channel.writeInbound(LineInput.lineTooLong(maximumLineLength: 1024))
        XCTAssertEqual(try browser.lines(), ["! line too long (max 1024 bytes)"])
        try alice.send("/who\r\n")
        XCTAssertEqual(try alice.lines(), ["* 2 connected: guest1, guest2"])
    }
}
