import NIOHTTP1

/// Who may open `/chat`: the page's own origin, or one listed with `--web-origin`. A request without
/// `Origin` is not a browser's (a browser always sends it with a WebSocket) and is let through.
struct WebSocketAdmission: Sendable {
    enum Verdict: Equatable {
        case accepted
        case forbiddenOrigin
        case notWebSocket
    }

    let allowedOrigins: Set<WebOrigin>

    init(allowedOrigins: some Sequence<String>) {
        self.allowedOrigins = Set(allowedOrigins.compactMap(WebOrigin.init(parsing:)))
    }

    func check(_ head: HTTPRequestHead) -> Verdict {
        let path = head.uri.prefix { $0 != "?" }
        guard path == "/chat", head.method == .GET else { return .notWebSocket }
        let origins = head.headers["origin"]
        guard !origins.isEmpty else { return .accepted }
        guard origins.count == 1, let origin = WebOrigin(parsing: origins[0]) else { return .forbiddenOrigin }
        if allowedOrigins.contains(origin) { return .accepted }
        let hosts = head.headers["host"]
        guard hosts.count == 1, origin.matches(host: hosts[0]) else { return .forbiddenOrigin }
        return .accepted
    }
}
