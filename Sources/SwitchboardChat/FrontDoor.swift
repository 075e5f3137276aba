import NIOCore

/// What a connection passes before the chat starts: a PROXY protocol header, a TLS handshake, both (the
/// header comes first: the proxy writes it before relaying the client's bytes), or nothing (plain telnet).
public struct FrontDoor: Sendable, Hashable, CustomStringConvertible {
    /// The connection starts with a PROXY protocol header (a `haproxy:` endpoint).
    public var proxyHeader: Bool
    /// The connection speaks TLS (an `ssl:` endpoint).
    public var tls: Bool

    public init(proxyHeader: Bool, tls: Bool) {
        self.proxyHeader = proxyHeader
        self.tls = tls
    }

    /// How the connection came in, for the log: `plain`, `tls`, `proxy`, `proxy+tls`.
    public var description: String {
        switch (proxyHeader, tls) {
        case (false, false): return "plain"
        case (false, true): return "tls"
        case (true, false): return "proxy"
        case (true, true): return "proxy+tls"
        }
    }

    /// Plain telnet: the chat starts at once.
    public static let none = FrontDoor(proxyHeader: false, tls: false)

    /// The most a PROXY header may take to arrive, from the accept (the specification's advice: a proxy
    /// sends it at once, so a slow one is not a proxy).
    public static let proxyHeaderTimeout: TimeAmount = .seconds(3)
}
