import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ServerBootstrap {
    /// Listens where `endpoint` says: Twisted's `serverFromString(reactor, "tcp:8000").listen(factory)`, with the
    /// bootstrap as the factory.
    ///
    /// ```swift
    /// let listener = try await ServerBootstrap(group: group)
    ///     .childChannelInitializer { channel in … }
    ///     .bind(to: try Endpoint(parsing: "tcp:8001:interface=127.0.0.1"))
    ///     .get()
    /// ```
    /// What each endpoint sets, on top of the options already on the bootstrap:
    /// - `tcp:` — the listen backlog, `SO_REUSEADDR` (a restart does not wait for old connections' TIME_WAIT),
    ///   and `SO_REUSEPORT` when the endpoint says `reuseport`. Port 0 picks a free port: read it from the
    ///   channel's `localAddress`.
    /// - `unix:` — the listen backlog; a socket file already at the path is replaced (a stale one left by a
    ///   crash would otherwise make every restart fail; so would a live server's, which therefore loses its
    ///   path), and the file gets the endpoint's `mode` bits after the bind.
    /// - `ssl:` — its socket, as `tcp:`; `haproxy:…` — the socket of the endpoint inside; `systemd:` — the
    ///   socket systemd passed (``SystemdListenSockets``), its family checked. The TLS handshake and the PROXY
    ///   header are for the child channels' pipeline to handle (Switchboard's `FrontDoorPipeline`).
    ///
    /// The options are set on this bootstrap (a `ServerBootstrap` collects options as it is configured), so
    /// bind one bootstrap to one endpoint. Call from any thread; the future completes on the bootstrap's loop.
    /// Failures come as NIO's `IOError` (`Address already in use`, a missing directory, …) for the caller to
    /// say in one line together with the endpoint.
    public func bind(to endpoint: Endpoint) -> EventLoopFuture<any Channel> {
        switch endpoint {
        case .tcp(let host, let port, let backlog, let reusePort), .ssl(let host, let port, let backlog, let reusePort, _):
            var bootstrap = self
                .serverChannelOption(.backlog, value: Int32(clamping: backlog))
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            if reusePort {
                bootstrap = bootstrap.serverChannelOption(
                    .socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
            }
            return bootstrap.bind(host: host, port: port)
        case .unix(let path, let mode, let backlog):
            return self
                .serverChannelOption(.backlog, value: Int32(clamping: backlog))
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
                .flatMap { channel in
                    guard let mode, chmod(path, mode_t(mode)) != 0 else {
                        return channel.eventLoop.makeSucceededFuture(channel)
                    }
                    let error = IOError(errnoCode: errno, reason: "chmod \(String(mode, radix: 8)) \(path)")
                    return channel.close().flatMapThrowing { throw error }
                }
        case .systemd(let domain, let index):
            do {
                return withBoundSocket(try SystemdListenSockets.shared.socket(at: index, domain: domain))
            } catch {
                return MultiThreadedEventLoopGroup.singleton.any().makeFailedFuture(error)
            }
        case .haproxy(let inner):
            return bind(to: inner)
        }
    }
}
