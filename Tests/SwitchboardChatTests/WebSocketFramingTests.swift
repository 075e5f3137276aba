import NIOCore
@testable import SwitchboardChat
import SwitchboardProtocol
import XCTest

/// Lines as WebSocket text frames, the way a browser reads them: the header forms of RFC 6455 §5.2 byte for
/// byte, ``TickFrames`` (a tick's broadcast lines framed once, shared by every WebSocket recipient), and
/// ``SessionOutput`` taking a WebSocket's lines — shared frames and framed own lines in their order.
final class WebSocketFramingTests: XCTestCase {
    /// One server frame as a browser parses it (RFC 6455 §5.2 and §5.1: a server's frames are never masked, and a
    /// length uses the shortest form). Fails the test on anything a browser would refuse.
    struct Frame: Equatable {
        var opcode: UInt8
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
    }

    static func parse(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [Frame] {
        var frames: [Frame] = []
        var index = 0
        func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard index + count <= bytes.count else { return nil }
            defer { index += count }
            return bytes[index..<(index + count)]
        }
        while index < bytes.count {
            guard let header = take(2) else { XCTFail("a cut header", file: file, line: line); break }
            let first = header[header.startIndex], second = header[header.startIndex + 1]
            XCTAssertEqual(first & 0xF0, 0x80, "FIN set, no reserved bits", file: file, line: line)
            XCTAssertEqual(second & 0x80, 0, "a server never masks", file: file, line: line)
            var length = Int(second & 0x7F)
            if length == 126 {
                guard let extended = take(2) else { XCTFail("a cut length", file: file, line: line); break }
                length = extended.reduce(0) { $0 << 8 | Int($1) }
                XCTAssertGreaterThan(length, 125, "the shortest length form", file: file, line: line)
            } else if length == 127 {
                guard let extended = take(8) else { XCTFail("a cut length", file: file, line: line); break }
                length = extended.reduce(0) { $0 << 8 | Int($1) }
                XCTAssertGreaterThan(length, 65_535, "the shortest length form", file: file, line: line)
            }
            guard let payload = take(length) else { XCTFail("a cut payload", file: file, line: line); break }
            frames.append(Frame(opcode: first & 0x0F, payload: Array(payload)))
        }
        return frames
    }

    private func bytes(_ buffers: [ByteBuffer]) -> [UInt8] { buffers.flatMap { Array($0.readableBytesView) } }

    private func framed(_ text: String) -> [UInt8] {
        var buffer = ByteBuffer()
        var lines = Array(text.utf8)
        lines.withUnsafeMutableBytes { _ = buffer.writeWebSocketTextFrames(lines: UnsafeRawBufferPointer($0)) }
        return Array(buffer.readableBytesView)
    }

    /// The header's three length forms, exactly as RFC 6455 §5.2 draws them.
    func testFrameHeadersUseTheShortestLengthForm() {
        func header(_ length: Int, opcode: UInt8 = 0x1) -> [UInt8] {
            var buffer = ByteBuffer()
            let written = buffer.writeWebSocketFrameHeader(opcode: opcode, payloadLength: length)
            XCTAssertEqual(written, buffer.readableBytes)
            return Array(buffer.readableBytesView)
        }
        XCTAssertEqual(header(0), [0x81, 0x00])
        XCTAssertEqual(header(125), [0x81, 0x7D])
        XCTAssertEqual(header(126), [0x81, 0x7E, 0x00, 0x7E])
        XCTAssertEqual(header(65_535), [0x81, 0x7E, 0xFF, 0xFF])
        XCTAssertEqual(header(65_536), [0x81, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00])
        XCTAssertEqual(header(70_000), [0x81, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70])
        XCTAssertEqual(header(2, opcode: 0x8), [0x88, 0x02], "a close frame")
    }

    /// Each CRLF (or LF) line is one text frame whose payload is the line without its end: short, 126-byte
    /// (16-bit length) and 70 000-byte (64-bit length) lines, exact bytes.
    func testEachLineIsOneTextFrameWithoutItsLineEnd() {
        XCTAssertEqual(framed("* hi\r\n<bob> yo\n"), [0x81, 4] + Array("* hi".utf8) + [0x81, 8] + Array("<bob> yo".utf8))
        XCTAssertEqual(framed("\r\n"), [0x81, 0], "an empty line is an empty frame")
        let medium = String(repeating: "m", count: 126), long = String(repeating: "l", count: 70_000)
        XCTAssertEqual(framed(medium + "\r\n"), [0x81, 0x7E, 0x00, 0x7E] + Array(medium.utf8))
        XCTAssertEqual(framed(long + "\r\n"), [0x81, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70] + Array(long.utf8))
        XCTAssertEqual(
            Self.parse(framed("a\r\n" + medium + "\r\n" + long + "\r\n")).map(\.text), ["a", medium, long])
        XCTAssertEqual(Self.parse(framed("\u{1F600} \u{07}\r\n")).map(\.text), ["\u{1F600} \u{07}"], "UTF-8 and a bell, as sent")
    }

    /// The tick's frames are built once, on first use; a range of the lines maps to the frames of exactly those
    /// lines, also for lines added after the first use (a leave notice while the tick's closes run), and a
    /// reset starts them over.
    func testTickFramesMapRangesOfLinesToTheirFrames() {
        var tick = TickLines()
        let medium = String(repeating: "m", count: 200), long = String(repeating: "l", count: 70_000)
        let a = tick.append("<a> hi"), b = tick.append(medium), c = tick.append(long)
        func frames(_ range: Range<Int>) -> [String] {
            let framed = tick.frames.range(of: range, in: tick.buffer)
            return Self.parse(Array(tick.frames.buffer.getSlice(at: framed.lowerBound, length: framed.count)!.readableBytesView))
                .map(\.text)
        }
        XCTAssertEqual(frames(b), [medium])
        XCTAssertEqual(frames(a.lowerBound..<c.upperBound), ["<a> hi", medium, long])
        XCTAssertEqual(frames(c), [long])
        XCTAssertEqual(frames(a), ["<a> hi"])
        let d = tick.append("* b left (2 clients connected)")
        XCTAssertEqual(frames(b.lowerBound..<d.upperBound), [medium, long, "* b left (2 clients connected)"])
        XCTAssertEqual(tick.frames.buffer.readableBytes, (2 + 6) + (4 + 200) + (10 + 70_000) + (2 + 30))
        tick.reset()
        XCTAssertEqual(tick.frames.buffer.readableBytes, 0)
        let e = tick.append("<c> next tick")
        XCTAssertEqual(frames(e), ["<c> next tick"])
    }

    /// A WebSocket recipient's broadcast lines are slices of the tick's frames (not a copy per recipient), its
    /// own lines are framed, and all keep the order they were queued in.
    func testSharedFramesAndOwnLinesKeepTheirOrder() {
        var tick = TickLines()
        let padding = String(repeating: ".", count: 60)
        var output = SessionOutput()
        _ = output.enqueue(tick.append("<a> one " + padding), of: tick)
        _ = output.enqueue(tick.append("<a> two " + padding), of: tick)
        _ = output.enqueue(ChatSession.encode("*a* private"))
        _ = output.enqueue(tick.append("<a> three " + padding), of: tick)
        _ = output.enqueue(ChatSession.encode("* a bell\u{07}"))
        XCTAssertEqual(output.bytes, Int64(3 * (padding.count + 2) + 8 + 8 + 10 + 13 + 11), "counted as CRLF lines")
        var written: [ByteBuffer] = []
        output.take(sharing: tick, framing: .webSocketText) { written.append($0) }
        XCTAssertEqual(
            Self.parse(bytes(written)).map(\.text),
            ["<a> one " + padding, "<a> two " + padding, "*a* private", "<a> three " + padding, "* a bell\u{07}"])
        XCTAssertEqual(written.count, 4, "one slice per run of shared lines, one per run of own lines")
        let framesStart = tick.frames.buffer.withUnsafeReadableBytes { $0.baseAddress }
        XCTAssertEqual(written[0].withUnsafeReadableBytes { $0.baseAddress }, framesStart, "a slice of the shared frames")
        XCTAssertTrue(Self.parse(bytes(written)).allSatisfy { $0.opcode == 0x1 })
    }

    /// A broadcast line held behind a database reply is framed with the reply's lines, in command order.
    func testLinesHeldBehindAReplyAreFramedInOrder() {
        var tick = TickLines()
        var output = SessionOutput()
        let reply = output.reserveReply()
        _ = output.enqueue(tick.append("<a> during the wait"), of: tick)
        tick.reset()
        _ = output.completeReply(reply, with: [ChatSession.encode("[2026-12-07 10:00:00 UTC] <b> old"), ChatSession.encode("* end of history")])
        var written: [ByteBuffer] = []
        output.take(sharing: tick, framing: .webSocketText) { written.append($0) }
        XCTAssertEqual(
            Self.parse(bytes(written)).map(\.text), ["[2026-12-07 10:00:00 UTC] <b> old", "* end of history", "<a> during the wait"])
    }

    /// Through the hub: a WebSocket client and a telnet client get the same lines — one as frames, one as CRLF
    /// lines — with a private line between two broadcast lines of the same tick in its place.
    func testAWebSocketSessionGetsTheTicksLinesAsFramesInOrder() throws {
        let harness = ChatTestHarness()
        let ann = try harness.join()  // guest1
        let websocket = ChatTransport(name: "websocket", peerPrefix: "ws:", framing: .webSocketText)
        let browser = try harness.connect(transport: websocket, telnet: false)  // guest2
        let welcome = Self.parse(try browser.bytes())
        XCTAssertEqual(welcome.count, 1)
        XCTAssertTrue(welcome.first?.text.hasPrefix("* Welcome, guest2! 2 clients connected") ?? false, "\(welcome)")
        let carl = try harness.join([ann])  // guest3
        XCTAssertEqual(Self.parse(try browser.bytes()).map(\.text), ["* guest3 joined (3 clients connected)"])
        // One read, one tick: a broadcast, a private line for the browser, another broadcast.
        try ann.send("hi\r\n/msg guest2 psst\r\nbye\r\n")
        XCTAssertEqual(Self.parse(try browser.bytes()).map(\.text), ["<guest1> hi", "*guest1* psst", "<guest1> bye"])
        XCTAssertEqual(try carl.lines(), ["<guest1> hi", "<guest1> bye"])
        // The browser's own line reaches the telnet clients as a CRLF line, and not the browser itself.
        try browser.channel.writeInbound(LineInput.line(Array("hello from the page".utf8)))
        XCTAssertEqual(try carl.lines(), ["<guest2> hello from the page"])
        XCTAssertEqual(try browser.bytes(), [])
    }

    /// A refusal goes to the channel without the output queue: a WebSocket client gets it as a text frame too.
    func testAWebSocketClientIsRefusedWithATextFrame() throws {
        var configuration = ChatConfiguration()
        configuration.maximumClients = 1
        let harness = ChatTestHarness(configuration: configuration)
        _ = try harness.join()
        let websocket = ChatTransport(name: "websocket", peerPrefix: "ws:", framing: .webSocketText)
        let late = try harness.connect(transport: websocket, telnet: false)
        XCTAssertEqual(Self.parse(try late.bytes()), [Frame(opcode: 0x1, payload: Array("! server full".utf8))])
        XCTAssertFalse(late.isActive)
    }
}
