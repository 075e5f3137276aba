import NIOCore
import NIOWebSocket
import SwitchboardChat
import SwitchboardProtocol

/// Puts a ``ChatSession`` on a WebSocket: the handler in front of the session on an upgraded `/chat`
/// connection. One text frame is one line, both ways.
///
/// ```
///  socket ─▶ WebSocketFrameDecoder ─▶ [this] ─────────────────────▶ ChatSession ─▶ ChatHub
///            frames                   LineInput: .received(bytes:)   the same commands, limits, flood control
///                                     per frame, .line per message
///  socket ◀─ WebSocketFrameEncoder ◀─ [this] ◀─ ChatSession
///            one text frame per line  CRLF-ended lines
/// ```
/// This is the WebSocket's counterpart of the telnet pipeline's `TelnetLineHandler`: the session knows lines
/// (``LineInput``), not transports. Each frame's wire size (header, mask and payload) is passed on as
/// `.received(bytes:)` for the traffic counts, each whole text message as one `.line` (UTF-8, no CR or LF);
/// the session works its queue off at `channelReadComplete`, which the decoder fires after each socket read
/// and which passes through here. A message over `--max-line` is not a `.lineTooLong`: the frame decoder
/// refuses it before reading its payload, and the connection is closed with 1009 (a WebSocket client cannot be
/// told mid-frame to skip the rest). What the session writes is whole CRLF lines; each becomes a frame
/// without its CRLF.
///
/// Liveness: a client silent for a ``WebConfiguration/pingInterval`` is pinged; one that still has sent
/// nothing (not even the pong) an interval later is closed with 1001. A close the session asks for (a
/// `/quit`, an idle timeout, a full send queue, the server stopping) goes out as a close frame first: 1000,
/// or 1001 while the server shuts down — so the page knows to come back.
///
/// Ownership: one per channel, on the hub's event loop.
final class WebSocketLineAdapter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = LineInput
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private var assembler: WebSocketLineAssembler
    private let pingInterval: TimeAmount
    /// Whether the server is stopping (the hub's flag, read on its loop): a close then says 1001, not 1000.
    private let isShuttingDown: () -> Bool
    private var context: ChannelHandlerContext?
    private var pingTimer: Scheduled<Void>?
    private var heardSinceTick = true
    private var pingOutstanding = false
    private var closeSent = false
    /// Output bytes after the last CRLF (a write that ended mid-line; the session does not do that).
    private var pendingOutput: [UInt8] = []

    init(maximumLineLength: Int, maximumFragments: Int, pingInterval: TimeAmount, isShuttingDown: @escaping () -> Bool) {
        self.isShuttingDown = isShuttingDown
        self.assembler = WebSocketLineAssembler(maximumLineLength: maximumLineLength, maximumFragments: maximumFragments)
        self.pingInterval = pingInterval
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        scheduleTick()
    }

    private func scheduleTick() {
        guard let context else { return }
        pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: pingInterval) { [weak self] in
            self?.tick()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pingTimer?.cancel()
        pingTimer = nil
        self.context = nil
    }

    /// The session has been added behind this handler on a channel that is already active: tell it, so it
    /// asks the hub to admit it as it would a new telnet connection.
    func sessionAdded() {
        context?.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pingTimer?.cancel()
        pingTimer = nil
        context.fireChannelInactive()
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        heardSinceTick = true
        pingOutstanding = false
        let frame = unwrapInboundIn(data)
        if !closeSent { context.fireChannelRead(wrapInboundOut(.received(bytes: WebSocketLineAdapter.wireSize(of: frame)))) }
        switch assembler.receive(frame) {
        case .line(let bytes):
            context.fireChannelRead(wrapInboundOut(.line(bytes)))
        case .pong(let data):
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: data)), promise: nil)
        case .close(let code, let reason):
            sendCloseAndClose(code, reason, context: context)
        case .none:
            break
        }
    }

    /// The bytes `frame` took on the wire: the 2-byte header, the extended length (2 or 8 bytes past 125 and
    /// 65535), the mask key, the payload.
    static func wireSize(of frame: WebSocketFrame) -> Int {
        let payload = frame.length
        let extendedLength = payload > 65_535 ? 8 : payload > 125 ? 2 : 0
        return 2 + extendedLength + (frame.maskKey == nil ? 0 : 4) + payload
    }

    private func tick() {
        guard let context, !closeSent else { return }
        scheduleTick()
        if heardSinceTick {
            heardSinceTick = false
            return
        }
        if pingOutstanding {
            sendCloseAndClose(.goingAway, "no answer to ping", context: context)
            return
        }
        pingOutstanding = true
        context.writeAndFlush(
            wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "switchboard"))), promise: nil)
    }

    // MARK: - Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closeSent else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        var buffer = unwrapOutboundIn(data)
        var frames: [WebSocketFrame] = []
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
            if !pendingOutput.isEmpty {
                var joined = ByteBuffer(bytes: pendingOutput)
                joined.writeImmutableBuffer(line)
                line = joined
                pendingOutput = []
            }
            frames.append(WebSocketFrame(fin: true, opcode: .text, data: line))
        }
        pendingOutput.append(contentsOf: buffer.readableBytesView)
        guard let last = frames.popLast() else {
            promise?.succeed(())
            return
        }
        for frame in frames { context.write(wrapOutboundOut(frame), promise: nil) }
        context.write(wrapOutboundOut(last), promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, !closeSent, context.channel.isActive else {
            context.close(mode: mode, promise: promise)
            return
        }
        closeSent = true
        let code: WebSocketErrorCode = isShuttingDown() ? .goingAway : .normalClosure
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)), promise: nil)
        context.close(mode: mode, promise: promise)
    }

    private func sendCloseAndClose(_ code: WebSocketErrorCode, _ reason: String, context: ChannelHandlerContext) {
        guard !closeSent else { return }
        closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(reason)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}

@available(*, unavailable)
extension WebSocketLineAdapter: Sendable {}
