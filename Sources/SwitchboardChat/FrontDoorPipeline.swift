import Logging
import NIOCore
import NIOSSL
import SwitchboardProtocol

/// What one listener puts in front of each new connection's ``ChatSession``:
///
/// ```
///   tcp:, unix:, systemd:                                                  [TelnetLineHandler][ChatSession]
///   ssl:                                      [NIOSSLServerHandler][FrontDoorHandler][TelnetLineHandler][ChatSession]
///   haproxy:…             [ProxyHeaderHandler]                     [FrontDoorHandler][TelnetLineHandler][ChatSession]
///   haproxy:ssl:…         [ProxyHeaderHandler][NIOSSLServerHandler][FrontDoorHandler][TelnetLineHandler][ChatSession]
/// ```
/// The telnet framing sits in front of the session, which knows only lines (``LineInput``).
/// On a `haproxy:` endpoint a connection from an IP address outside `--trusted-proxy` is closed before any
/// handler is added, and counted; Unix socket peers are trusted (the socket file's permissions decide who
/// may connect).
///
/// Immutable and `Sendable`: the listener's child initializer uses one for every connection, on the
/// hub's loop; the TLS context comes from the ``TLSCertificateStore`` at each accept, so a reload applies
/// to the next connection.
struct FrontDoorPipeline: Sendable {
    let door: FrontDoor
    let certificates: TLSCertificateStore?
    /// The `--trusted-proxy` ranges in force (they can change on SIGHUP), read at each accept.
    let trustedProxies: @Sendable () -> [IPAddressRange]
    let handshakeTimeout: TimeAmount
    let counters: FrontDoorCounters
    let logger: Logger

    init(
        endpoint: Endpoint, certificates: TLSCertificateStore?, trustedProxies: @escaping @Sendable () -> [IPAddressRange],
        handshakeTimeout: TimeAmount, counters: FrontDoorCounters, logger: Logger
    ) {
        precondition((endpoint.tlsFiles != nil) == (certificates != nil), "an ssl: endpoint needs its certificates")
        self.door = FrontDoor(proxyHeader: endpoint.expectsProxyHeader, tls: certificates != nil)
        self.certificates = certificates
        self.trustedProxies = trustedProxies
        self.handshakeTimeout = handshakeTimeout
        self.counters = counters
        self.logger = logger
    }

    /// Adds the handlers for a new connection, ending with the telnet framing and `session(door)`. Returns `false` for an untrusted
    /// proxy, whose connection gets only a handler that closes it as soon as it is active (closing it here,
    /// before it is registered, would make the listener see an error).
    @discardableResult
    func install(on channel: any Channel, maximumLineLength: Int, session: (FrontDoor) -> ChatSession) throws -> Bool {
        let pipeline = channel.pipeline.syncOperations
        guard door != .none else {
            try pipeline.addHandler(TelnetLineHandler.chatFraming(maximumLineLength: maximumLineLength))
            try pipeline.addHandler(session(door))
            return true
        }
        if door.proxyHeader {
            if let remote = channel.remoteAddress, remote.pathname == nil,
                !trustedProxies().contains(where: { $0.contains(remote) })
            {
                counters.count { $0.untrustedProxies += 1 }
                logger.debug("PROXY connection from an untrusted address closed", metadata: ["peer": "\(remote.displayString)"])
                try pipeline.addHandler(CloseOnActive())
                return false
            }
            try pipeline.addHandler(ProxyHeaderHandler())
        }
        if let certificates {
            // TLS has no half-close (a client says it is done with close_notify, which ends the session), and a
            // FIN without one must end the connection at once, not leave it waiting for a close_notify.
            try channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: false)
            // NIOSSL takes its two per-connection buffers (48 KiB) from the channel's allocator: page-aligned,
            // an idle client's untouched pages cost nothing (see TLSBufferAllocator).
            try channel.syncOptions?.setOption(.allocator, value: TLSBufferAllocator.allocator)
            try pipeline.addHandler(NIOSSLServerHandler(context: certificates.context))
        }
        try pipeline.addHandler(
            FrontDoorHandler(door: door, handshakeTimeout: handshakeTimeout, counters: counters, logger: logger))
        try pipeline.addHandler(TelnetLineHandler.chatFraming(maximumLineLength: maximumLineLength))
        try pipeline.addHandler(session(door))
        return true
    }
}

/// Closes a connection as soon as it is active, reading nothing.
private final class CloseOnActive: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}
