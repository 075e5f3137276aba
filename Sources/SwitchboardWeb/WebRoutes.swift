import NIOCore
import NIOHTTP1

/// What a web listener serves: ``WebRequestHandler`` does the HTTP (limits, methods, keep-alive, the security
/// headers) and asks a `WebRoutes` for the response to each acceptable `GET`/`HEAD`.
protocol WebRoutes: Sendable {
    /// The response to `head` (path without its query in `path`). Called on the connection's event loop.
    func respond(to head: HTTPRequestHead, path: String, on eventLoop: any EventLoop) -> WebReply
}

/// A response now, or one that waits (on the pool, say) and completes on the connection's loop.
enum WebReply {
    case now(WebResponse)
    case later(EventLoopFuture<WebResponse>)
}
