import NIOCore
import NIOWebSocket
import SwitchboardChat
import SwitchboardProtocol

/// Puts a ``ChatSession`` on a WebSocket: the handler in front of the session on an upgraded `/chat`
/// connection, and the connection's only frame writer. One text frame is one line, both ways.
///
/// ```
///  socket ─▶ WebSocketFrameDecoder ─▶ [this] ─────────────────────▶ ChatSession ─▶ ChatHub
///            frames, or an error      LineInput: .received(bytes:)   the same commands, limits, flood control
///                                     per frame, .line per message
///  socket ◀───────────────────────── [this] ◀─ ChatSession
///            bytes as they are        text frames, one per line (its transport's framing is `.webSocketText`):
///            + ping, pong, close      broadcast lines as slices of the tick's frames, framed once for everyone
/// ```
/// This is the WebSocket's counterpart of the telnet pipeline's `TelnetLineHandler`: the session knows lines
/// (``LineInput``), not transports. Each frame's wire size (header, mask and payload) is passed on as
/// `.received(bytes:)` for the traffic counts, each whole text message as one `.line` (UTF-8, no CR or LF);
/// the session works its queue off at `channelReadComplete`, which the decoder fires after each socket read
/// and which passes through here. A message over `--max-line` is not a `.lineTooLong`: the frame decoder
/// refuses it before reading its payload (an error this handler answers with a close frame, 1009), and the
/// connection is closed (a WebSocket client cannot be told mid-frame to skip the rest).
///
/// Output: the session writes finished server frames (``ChatTransport/Framing/webSocketText``), so they pass
/// through untouched — a broadcast costs a WebSocket recipient what it costs a telnet one, a slice of one
/// shared buffer. There is no `WebSocketFrameEncoder` in this pipeline (``ChatWebSocketUpgrader``): the
/// control frames are encoded here, with the same header code as the lines.
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
    typealias OutboundOut = ByteBuffer

    private var assembler: WebSocketLineAssembler
    private let pingInterval: TimeAmount
    /// Whether the server is stopping (the hub's flag, read on its loop): a close then says 1001, not 1000.
    private let isShuttingDown: () -> Bool
    private var context: ChannelHandlerContext?
    private var pingTimer: Scheduled<Void>?
    private var heardSinceTick = true
    private var pingOutstanding = false
    private var closeSent = false

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
            context.writeAndFlush(wrapOutboundOut(Self.frame(.pong, data, context: context)), promise: nil)
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
            wrapOutboundOut(Self.frame(.ping, ByteBuffer(string: "switchboard"), context: context)), promise: nil)
    }

    // MARK: - Outbound

    /// The session's frames, passed through as they are.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closeSent else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        context.write(data, promise: promise)
    }

    /// One final, unmasked frame (a server's) with `payload`: a control frame's header and payload in one buffer.
    static func frame(_ opcode: WebSocketOpcode, _ payload: ByteBuffer, context: ChannelHandlerContext) -> ByteBuffer {
        var buffer = context.channel.allocator.buffer(capacity: 10 + payload.readableBytes)
        buffer.writeWebSocketFrameHeader(opcode: UInt8(webSocketOpcode: opcode), payloadLength: payload.readableBytes)
        buffer.writeImmutableBuffer(payload)
        return buffer
    }

    /// The frame decoder refused the client's bytes (a frame over `--max-line`, a fragmented or over-long
    /// control frame): say why with a close frame, as NIO's `WebSocketProtocolErrorHandler` would, then close.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? NIOWebSocketError {
            if case .invalidFrameLength = error {
                let reason = "line too long (max \(assembler.maximumLineLength) bytes)"
                sendCloseAndClose(.messageTooLarge, reason, context: context)
            } else {
                sendCloseAndClose(.protocolError, "control frames are short and whole", context: context)
            }
        }
        context.fireErrorCaught(error)
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
        context.writeAndFlush(wrapOutboundOut(Self.frame(.connectionClose, data, context: context)), promise: nil)
        context.close(mode: mode, promise: promise)
    }

    private func sendCloseAndClose(_ code: WebSocketErrorCode, _ reason: String, context: ChannelHandlerContext) {
        guard !closeSent else { return }
        closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(reason)
        context.writeAndFlush(wrapOutboundOut(Self.frame(.connectionClose, data, context: context)))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}

@available(*, unavailable)
extension WebSocketLineAdapter: Sendable {}
