import SwitchboardProtocol

/// The user event ``ProxyHeaderHandler`` sends up the pipeline once a connection's PROXY header is read.
public struct ProxyHeaderReceived: Sendable, Equatable {
    public var header: ProxyHeader

    public init(_ header: ProxyHeader) {
        self.header = header
    }
}
