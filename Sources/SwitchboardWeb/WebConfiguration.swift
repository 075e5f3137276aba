import NIOCore
import SwitchboardProtocol

/// What the web listener (`--web`) is told: where to listen, whom to let open the chat, and its bounds.
///
/// Every default is written here once; the CLI starts from these values, and ``validate()`` is the one check.
public struct WebConfiguration: Sendable {
    /// Where the page, `/chat` (WebSocket), `/stats` and `/api/stats` are served (`--web`, repeatable). Empty:
    /// no web listener.
    public var endpoints: [Endpoint] = []
    /// Origins other than the page's own that may open `/chat` (`--web-origin`, e.g. `https://chat.example`).
    /// A browser always sends `Origin` with a WebSocket; one that matches neither the `Host` it asked for nor
    /// this list is refused with 403, so another site cannot make its visitors' browsers join.
    public var allowedOrigins: [String] = []
    /// The request line and headers of one request, in bytes, at most; more is `431`.
    public var maximumHeaderBytes = 8 * 1024
    /// Header fields in one request, at most; more is `431`.
    public var maximumHeaderFields = 64
    /// How long a connection may take to send a whole request head, counted from the connection (or the end
    /// of the previous response); then `408` and close. Also the keep-alive idle limit.
    public var headerTimeout: TimeAmount = .seconds(10)
    /// Plain HTTP connections (not yet WebSocket chat sessions) open at once, at most; more are answered
    /// `503` and closed. Chat sessions count against `--max-clients` instead.
    public var maximumHTTPConnections = 512
    /// A WebSocket chat client is pinged after this long without a frame from it, and closed (1001) when the
    /// pong has not come within the same time again.
    public var pingInterval: TimeAmount = .seconds(30)
    /// Fragments (continuation frames) one message may have, at most; more closes the connection (1008).
    public var maximumFragmentsPerMessage = 64
    /// How long `/api/stats` answers from one reading of the history before it reads again.
    public var statsCacheLifetime: TimeAmount = .seconds(5)

    public init() {}

    /// Checks every value; the error names the CLI option.
    public func validate() throws(WebConfigurationError) {
        for origin in allowedOrigins {
            guard WebOrigin(parsing: origin) != nil else {
                throw WebConfigurationError(
                    "--web-origin '\(origin)' must be a scheme and host, with a port if not the default: https://chat.example:8443")
            }
        }
        guard maximumHeaderBytes >= 1024 else { throw WebConfigurationError("the header limit must be at least 1024 bytes") }
        guard maximumHeaderFields >= 8 else { throw WebConfigurationError("at least 8 header fields must be allowed") }
        guard headerTimeout > .zero, pingInterval > .zero, statsCacheLifetime >= .zero else {
            throw WebConfigurationError("web timeouts must be more than 0")
        }
        guard maximumHTTPConnections > 0 else { throw WebConfigurationError("at least one HTTP connection must be allowed") }
        guard maximumFragmentsPerMessage > 0 else { throw WebConfigurationError("a message must be allowed one fragment") }
    }
}

/// A web configuration value out of range: one line for the user.
public struct WebConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
