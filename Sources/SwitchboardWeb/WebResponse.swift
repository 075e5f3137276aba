import NIOCore
import NIOHTTP1

/// One whole HTTP response as the web listener sends it: every response carries the same security headers,
/// so none can be forgotten on an error path.
struct WebResponse {
    var status: HTTPResponseStatus
    var contentType: String
    var body: ByteBuffer
    var extraHeaders: [(String, String)] = []
    /// Close the connection after this response (errors that leave the request stream in doubt).
    var close = false

    /// The page's policy: nothing but this origin — no inline script or style, no plugins, no framing, and
    /// forms and `<base>` pinned. `connect-src 'self'` covers the page's own `ws:`/`wss:` in current browsers.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", contentSecurityPolicy),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]

    init(status: HTTPResponseStatus, contentType: String, body: ByteBuffer, close: Bool = false) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.close = close
    }

    /// A short plain-text response (errors): the reason phrase and a line of explanation.
    static func text(_ status: HTTPResponseStatus, _ message: String, close: Bool = false) -> WebResponse {
        WebResponse(
            status: status, contentType: "text/plain; charset=utf-8",
            body: ByteBuffer(string: "\(status.code) \(status.reasonPhrase): \(message)\n"), close: close)
    }

    /// The response head: status, length, type, cache policy, the security headers, and `Connection: close`
    /// when the connection ends after it.
    func head(version: HTTPVersion, keepAlive: Bool) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(12 + extraHeaders.count)
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-cache")
        for (name, value) in WebResponse.securityHeaders { headers.add(name: name, value: value) }
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive || close { headers.add(name: "Connection", value: "close") }
        return HTTPResponseHead(version: version, status: status, headers: headers)
    }
}
