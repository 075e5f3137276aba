import NIOCore
import NIOEmbedded
import NIOWebSocket
import SwitchboardProtocol
import XCTest

import SwitchboardChat
@testable import SwitchboardWeb

/// The adapter on an `EmbeddedChannel`: what the session behind it receives (``LineInput``, as the telnet
/// framing hands it), that each read ends in a `channelReadComplete` the session drains at, and what goes out.
final class WebSocketLineAdapterTests: XCTestCase {
    /// What the session would see: the inputs, and where each read ended.
    private final class Recorder: ChannelInboundHandler {
        typealias InboundIn = LineInput
        enum Event: Equatable {
            case input(LineInput)
            case readComplete
        }
        var events: [Event] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            events.append(.input(unwrapInboundIn(data)))
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            events.append(.readComplete)
        }
    }

    private func frame(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) -> WebSocketFrame {
        let key = WebSocketMaskingKey([9, 8, 7, 6])!
        var data = ByteBuffer(string: text)
        data.webSocketMask(key)
        return WebSocketFrame(fin: fin, opcode: opcode, maskKey: key, data: data)
    }

    private func channel(maximumLineLength: Int = 1024) throws -> (EmbeddedChannel, Recorder) {
        let recorder = Recorder()
        let adapter = WebSocketLineAdapter(
            maximumLineLength: maximumLineLength, maximumFragments: 4, pingInterval: .seconds(30), isShuttingDown: { false })
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([adapter, recorder])
        return (channel, recorder)
    }

    /// Each frame is counted at its wire size, each whole message is one line, and the read's end reaches the
    /// session after its lines (where it works them off).
    func testFramesBecomeLineInputAndTheReadEndsAfterThem() throws {
        let (channel, recorder) = try channel()
        // One socket read that held three frames: the decoder passes each on, then the read's end.
        let pipeline = channel.pipeline.syncOperations
        pipeline.fireChannelRead(NIOAny(frame(.text, "hello")))
        pipeline.fireChannelRead(NIOAny(frame(.text, "two ", fin: false)))
        pipeline.fireChannelRead(NIOAny(frame(.continuation, "parts")))
        pipeline.fireChannelReadComplete()
        XCTAssertEqual(recorder.events, [
            .input(.received(bytes: 2 + 4 + 5)), .input(.line(Array("hello".utf8))),
            .input(.received(bytes: 2 + 4 + 4)),
            .input(.received(bytes: 2 + 4 + 5)), .input(.line(Array("two parts".utf8))),
            .readComplete,
        ])
        let long = String(repeating: "x", count: 200)
        XCTAssertEqual(WebSocketLineAdapter.wireSize(of: frame(.text, long)), 2 + 2 + 4 + 200)
    }

    /// Every byte the adapter sent, in order.
    private func sent(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }

    /// Server frames as a client's frame decoder (NIO's, unmasked frames allowed) reads them.
    private func decoded(_ bytes: [UInt8]) throws -> [WebSocketFrame] {
        let client = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try client.writeInbound(ByteBuffer(bytes: bytes))
        var frames: [WebSocketFrame] = []
        while let frame = try client.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
        _ = try client.finish()
        return frames
    }

    /// What the session writes is finished text frames (its transport's framing): they go out as they are, the
    /// same storage, not re-framed; a close the session asks for goes out as a close frame (1000) first.
    func testTheSessionsFramesPassThroughAndACloseSays1000() throws {
        let (channel, _) = try channel()
        var lines = ByteBuffer()
        lines.writeWebSocketFrameHeader(opcode: 0x1, payloadLength: 5)
        lines.writeString("* one")
        lines.writeWebSocketFrameHeader(opcode: 0x1, payloadLength: 9)
        lines.writeString("<bob> two")
        try channel.writeOutbound(lines)
        let out = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(out, lines)
        XCTAssertEqual(out.withUnsafeReadableBytes { $0.baseAddress }, lines.withUnsafeReadableBytes { $0.baseAddress })
        XCTAssertEqual(try decoded(Array(out.readableBytesView)).map { String(buffer: $0.data) }, ["* one", "<bob> two"])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.close().wait()
        XCTAssertEqual(try sent(channel), [0x88, 0x02, 0x03, 0xE8], "close, 2 bytes: 1000")
        XCTAssertThrowsError(try channel.writeOutbound(lines), "nothing after the close frame")
    }

    /// Pings, pongs and closes are server frames (final, unmasked, the shortest length), byte for byte: a ping
    /// answered, a silent client pinged after an interval and closed with 1001 after another.
    func testControlFramesAreServerFramesByteForByte() throws {
        let (channel, _) = try channel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.pipeline.syncOperations.fireChannelRead(NIOAny(frame(.ping, "abc")))
        XCTAssertEqual(try sent(channel), [0x8A, 0x03] + Array("abc".utf8), "pong with the ping's data")
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))  // heard from during this interval
        XCTAssertEqual(try sent(channel), [])
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        XCTAssertEqual(try sent(channel), [0x89, 0x0B] + Array("switchboard".utf8))
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        let reason = Array("no answer to ping".utf8)
        let close = try sent(channel)
        XCTAssertEqual(close, [0x88, UInt8(2 + reason.count), 0x03, 0xE9] + reason)
        let frames = try decoded(close)
        XCTAssertEqual(frames.map(\.opcode), [.connectionClose])
        XCTAssertFalse(channel.isActive)
    }

    /// Without NIO's error handler in this pipeline, the adapter answers the frame decoder's refusals: a frame
    /// over the limit is closed with 1009 before its payload is read, a fragmented control frame with 1002.
    func testFrameDecoderErrorsAreClosedWithTheirCodes() throws {
        for (header, code) in [([0x81, 0x80 | 126, 0x00, 200] as [UInt8], 1009), ([0x09, 0x80] as [UInt8], 1002)] {
            let recorder = Recorder()
            let adapter = WebSocketLineAdapter(
                maximumLineLength: 125, maximumFragments: 4, pingInterval: .seconds(30), isShuttingDown: { false })
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandlers([
                ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 125)), adapter, recorder,
            ])
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(bytes: header + [1, 2, 3, 4])))
            let close = try XCTUnwrap(decoded(try sent(channel)).first)
            XCTAssertEqual(close.opcode, .connectionClose)
            var data = close.data
            XCTAssertEqual(data.readWebSocketErrorCode().map(UInt16.init(webSocketErrorCode:)), UInt16(code))
            XCTAssertFalse(channel.isActive, "closed after the close frame")
            XCTAssertFalse(recorder.events.contains { if case .input(.line) = $0 { return true } else { return false } })
        }
    }
}
