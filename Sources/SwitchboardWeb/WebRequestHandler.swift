import Logging
import NIOCore
import NIOHTTP1

/// The HTTP half of a web connection: refuses what the listener does not accept, asks its ``WebRoutes`` for
/// the rest, and writes each response whole with the security headers (``WebResponse``).
///
/// Refused, each with the connection closed after the answer so nothing after it is read as a request:
/// - a request with a body (`Content-Length` other than 0, any `Transfer-Encoding`): `400`. Nothing here takes
///   a body, so a body can never be smuggled in as the next request;
/// - an HTTP/1.1 request without exactly one `Host`: `400`;
/// - a target that is not a plain path (`http://…`, `*`): `400`.
/// Other methods than `GET` and `HEAD` get `405` with `Allow`. Pipelined requests are answered in order
/// (NIO's `HTTPServerPipelineHandler` holds the next until this one's response has ended).
///
/// Ownership: one per channel, on its event loop.
final class WebRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: any WebRoutes
    private let deadline: HTTPRequestDeadline?
    private let logger: Logger
    /// Set from a request's head until its response has been written.
    private var responding = false

    init(routes: any WebRoutes, deadline: HTTPRequestDeadline?, logger: Logger) {
        self.routes = routes
        self.deadline = deadline
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }  // bodies are refused at the head
        deadline?.requestHeadReceived()
        responding = true
        let keepAlive = head.isKeepAlive
        if let refusal = WebRequestHandler.refusal(of: head) {
            write(refusal, for: head, keepAlive: keepAlive, context: context)
            return
        }
        let path = String(head.uri.prefix { $0 != "?" && $0 != "#" })
        switch routes.respond(to: head, path: path, on: context.eventLoop) {
        case .now(let response):
            write(response, for: head, keepAlive: keepAlive, context: context)
        case .later(let future):
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let response):
                    self.write(response, for: head, keepAlive: keepAlive, context: context)
                case .failure(let error):
                    self.logger.warning("web request failed", metadata: ["path": "\(path)", "error": "\(error)"])
                    self.write(.text(.serviceUnavailable, "try again later"), for: head, keepAlive: keepAlive, context: context)
                }
            }
        }
    }

    /// What is wrong with `head` before any route sees it, or `nil`.
    static func refusal(of head: HTTPRequestHead) -> WebResponse? {
        let lengths = head.headers["content-length"]
        if !head.headers["transfer-encoding"].isEmpty || lengths.contains(where: { $0 != "0" }) {
            return .text(.badRequest, "request bodies are not accepted", close: true)
        }
        if head.version.major == 1 && head.version.minor >= 1 && head.headers["host"].count != 1 {
            return .text(.badRequest, "exactly one Host header is needed", close: true)
        }
        guard head.uri.hasPrefix("/") else {
            return .text(.badRequest, "the request target must be a path", close: true)
        }
        guard head.method == .GET || head.method == .HEAD else {
            var response = WebResponse.text(.methodNotAllowed, "only GET and HEAD are served")
            response.extraHeaders.append(("Allow", "GET, HEAD"))
            return response
        }
        return nil
    }

    private func write(_ response: WebResponse, for request: HTTPRequestHead, keepAlive: Bool, context: ChannelHandlerContext) {
        guard responding else { return }
        responding = false
        let head = response.head(version: request.version, keepAlive: keepAlive)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD && response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if response.close || !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            deadline?.responseCompleted()
        }
    }
}

@available(*, unavailable)
extension WebRequestHandler: Sendable {}
