/// A web origin (`scheme://host:port`), compared the way browsers do: scheme and host ignoring case, the
/// default port filled in.
///
/// `/chat` takes a WebSocket only from the page's own origin (its `Origin` names the host the browser asked
/// for in `Host`) or one listed with `--web-origin`; a request without `Origin` is not a browser's and is let
/// through (a browser always sends it with a WebSocket).
public struct WebOrigin: Hashable, Sendable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    /// Parses an `Origin` header value or a `--web-origin` argument; `nil` for anything else (`null`, a path,
    /// user info, an unknown scheme).
    public init?(parsing text: String) {
        let lowered = text.lowercased()
        guard let separator = lowered.range(of: "://") else { return nil }
        let scheme = String(lowered[..<separator.lowerBound])
        guard let defaultPort = WebOrigin.defaultPort(scheme) else { return nil }
        var rest = lowered[separator.upperBound...]
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?"), !rest.contains("#") else {
            return nil
        }
        guard let (host, port) = WebOrigin.splitHostPort(String(rest), defaultPort: defaultPort) else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// `host[:port]` as in a `Host` header, with `scheme`'s default port when none is given.
    static func splitHostPort(_ text: String, defaultPort: Int) -> (String, Int)? {
        let lowered = text.lowercased()
        if lowered.hasPrefix("[") {  // IPv6: [::1]:8080
            guard let close = lowered.firstIndex(of: "]") else { return nil }
            let host = String(lowered[...close])
            let after = lowered[lowered.index(after: close)...]
            if after.isEmpty { return (host, defaultPort) }
            guard after.hasPrefix(":"), let port = Int(after.dropFirst()), (1...65535).contains(port) else { return nil }
            return (host, port)
        }
        let parts = lowered.split(separator: ":", omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty else { return nil }
        switch parts.count {
        case 1: return (String(first), defaultPort)
        case 2:
            guard let port = Int(parts[1]), (1...65535).contains(port) else { return nil }
            return (String(first), port)
        default: return nil
        }
    }

    static func defaultPort(_ scheme: String) -> Int? {
        switch scheme {
        case "http", "ws": return 80
        case "https", "wss": return 443
        default: return nil
        }
    }

    /// Whether this origin is the one the request's `Host` header names (the page's own).
    public func matches(host hostHeader: String) -> Bool {
        guard let (host, port) = WebOrigin.splitHostPort(hostHeader, defaultPort: WebOrigin.defaultPort(scheme) ?? 80)
        else { return false }
        return host == self.host && port == self.port
    }

    public var description: String { "\(scheme)://\(host):\(port)" }
}
