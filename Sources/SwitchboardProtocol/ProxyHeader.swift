import NIOCore

/// What a PROXY protocol header (v1 or v2) says about a connection a proxy forwarded.
public struct ProxyHeader: Sendable, Equatable {
    /// The header's version: 1 (text) or 2 (binary).
    public var version: Int
    /// The client as the proxy saw it, or `nil` when the header does not name one: v1 `UNKNOWN`, v2
    /// `LOCAL` (the proxy's own health check), or an address family other than TCP over IPv4/IPv6. Then the
    /// connection's own address stands.
    public var source: SocketAddress?
    /// The address the client connected to on the proxy, when named.
    public var destination: SocketAddress?

    public init(version: Int, source: SocketAddress?, destination: SocketAddress?) {
        self.version = version
        self.source = source
        self.destination = destination
    }
}
