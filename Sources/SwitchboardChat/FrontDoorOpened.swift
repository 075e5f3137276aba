import NIOCore

/// The user event ``FrontDoorHandler`` sends ``ChatSession`` when a connection is through its front door
/// (its PROXY header read, its TLS handshake done): the chat may start.
public struct FrontDoorOpened: Sendable, Equatable {
    /// The client a PROXY header named, or `nil` to keep the connection's own address (no proxy, or a
    /// header that names no client: v1 `UNKNOWN`, v2 `LOCAL`).
    public var client: SocketAddress?

    public init(client: SocketAddress?) {
        self.client = client
    }
}
