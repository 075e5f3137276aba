import NIOCore
import NIOHTTP1

/// The web listener's paths: the chat page and its files, the dashboard, `/api/stats`, and what `/chat`
/// says to a request that did not become a WebSocket.
///
/// | path | answer |
/// |------|--------|
/// | `/`, `/stats`, `/chat.js`, `/stats.js`, `/style.css` | the embedded file |
/// | `/api/stats` | ``StatsSnapshot`` as JSON (see ``StatsService``) |
/// | `/chat` | a WebSocket upgrade; else `403` (an origin not allowed), `400` (a broken upgrade) or `426` |
/// | anything else | `404` (paths are matched exactly: there is no file system behind them) |
struct ChatPageRoutes: WebRoutes {
    let assets: [String: WebAssets.Asset]
    let admission: WebSocketAdmission
    let stats: (@Sendable () -> EventLoopFuture<ByteBuffer>)?

    func respond(to head: HTTPRequestHead, path: String, on eventLoop: any EventLoop) -> WebReply {
        if let asset = assets[path] {
            return .now(WebResponse(status: .ok, contentType: asset.contentType, body: asset.body))
        }
        switch path {
        case "/chat":
            switch admission.check(head) {
            case .forbiddenOrigin:
                return .now(.text(.forbidden, "this origin may not open the chat (see --web-origin)"))
            case .notWebSocket, .accepted:
                // `accepted` here means the upgrader declined for another reason (a missing key or version).
                if head.headers["upgrade"].isEmpty {
                    var response = WebResponse.text(.upgradeRequired, "the chat is a WebSocket")
                    response.extraHeaders = [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]
                    return .now(response)
                }
                return .now(.text(.badRequest, "not a valid WebSocket upgrade (RFC 6455, version 13)", close: true))
            }
        case "/api/stats":
            guard let stats else { return .now(.text(.notFound, "no such page")) }
            return .later(stats().map { body in
                WebResponse(status: .ok, contentType: "application/json; charset=utf-8", body: body)
            })
        default:
            return .now(.text(.notFound, "no such page"))
        }
    }
}
