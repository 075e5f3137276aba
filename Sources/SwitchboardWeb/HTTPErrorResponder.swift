import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Answers a request the HTTP decoder cannot accept, then closes the connection: `431` for a
/// head over the limits (``WebConfiguration/maximumHeaderBytes``, ``WebConfiguration/maximumHeaderFields``),
/// `400` for anything else malformed — including the request-smuggling shapes llhttp refuses (`Content-Length`
/// with `Transfer-Encoding`, two differing lengths, a bad chunk size, bare CR/LF in the head).
///
/// In place of NIO's `HTTPServerProtocolErrorHandler` (which says 400 to everything).
/// Ownership: one per channel, on its event loop.
final class HTTPErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let logger: Logger
    private var responseOpen = false

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOWebSocketUpgradeError {
            // A refused upgrade: the request goes on to the router, which says why (403, 400, 404).
            return
        }
        guard let parserError = error as? HTTPParserError else {
            logger.debug("web connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return
        }
        logger.debug("refused a malformed HTTP request", metadata: ["error": "\(parserError)"])
        guard !responseOpen else { return }
        let response: WebResponse =
            parserError == .headerOverflow
            ? .text(.requestHeaderFieldsTooLarge, "the request head is too large", close: true)
            : .text(.badRequest, "malformed request", close: true)
        context.write(wrapOutboundOut(.head(response.head(version: .http1_1, keepAlive: false))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        // The decoder stops reading after an error but leaves the connection to us.
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: responseOpen = true
        case .end: responseOpen = false
        case .head, .body: break
        }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension HTTPErrorResponder: Sendable {}
