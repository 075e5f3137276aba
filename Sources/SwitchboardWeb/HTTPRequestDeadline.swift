import NIOCore

/// Bounds how long a connection may take to send a request head (slowloris: a head trickled a byte at a
/// time, or a connection opened and left idle): the first handler of a web connection, before the HTTP
/// decoder, so it can answer in raw bytes whatever state the decoder is in.
///
/// ```
///  connect ──── head must be whole within --web header timeout ────▶ 408, close
///          └─ head arrives: timer off ─ response ends: timer on again (keep-alive idle is the same bound)
/// ```
/// ``WebRequestHandler`` tells it when a head arrives and when its response ends. The WebSocket upgrade
/// removes it: a chat session's idleness is the chat's business (`--idle-timeout`) and the pings'.
///
/// Ownership: one per channel, used only on that channel's event loop.
final class HTTPRequestDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var requestInFlight = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// Written raw: the decoder may be in the middle of a head, so the HTTP encoder cannot be used.
    static let timeoutResponse: ByteBuffer = {
        let body = "408 Request Timeout: the request head did not arrive in time\n"
        return ByteBuffer(
            string: "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: \(body.utf8.count)\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
                + body)
    }()

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { arm() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        arm()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    /// A whole request head arrived: no deadline while it is being answered.
    func requestHeadReceived() {
        requestInFlight = true
        timer?.cancel()
        timer = nil
    }

    /// Its response has been written: the next head has the full timeout again.
    func responseCompleted() {
        requestInFlight = false
        arm()
    }

    private func arm() {
        guard let context, !requestInFlight else { return }
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.expired()
        }
    }

    private func expired() {
        guard let context, !requestInFlight else { return }
        timer = nil
        context.writeAndFlush(wrapOutboundOut(HTTPRequestDeadline.timeoutResponse)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension HTTPRequestDeadline: Sendable {}
