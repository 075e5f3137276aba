import NIOCore
import NIOEmbedded
import NIOWebSocket
import SwitchboardProtocol
import XCTest

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

    /// What the session writes, whole CRLF lines, goes out one text frame per line without the CRLF; a close the
    /// session asks for goes out as a close frame (1000) first.
    func testCRLFLinesBecomeOneTextFrameEachAndACloseSays1000() throws {
        let (channel, _) = try channel()
        try channel.writeOutbound(ByteBuffer(string: "* one\r\n<bob> two\r\n"))
        var texts: [String] = []
        while let frame = try channel.readOutbound(as: WebSocketFrame.self) {
            XCTAssertEqual(frame.opcode, .text)
            texts.append(String(buffer: frame.unmaskedData))
        }
        XCTAssertEqual(texts, ["* one", "<bob> two"])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.close().wait()
        let close = try XCTUnwrap(channel.readOutbound(as: WebSocketFrame.self))
        XCTAssertEqual(close.opcode, .connectionClose)
        var data = close.data
        XCTAssertEqual(data.readWebSocketErrorCode(), .normalClosure)
    }
}
