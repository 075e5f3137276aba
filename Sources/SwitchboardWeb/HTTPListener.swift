import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SwitchboardChat
import SwitchboardProtocol

/// One HTTP/1.1 listener (the web page's or the metrics'): binds endpoints on one event loop and gives every
/// connection the same guarded pipeline.
///
/// ```
///  bytes ─▶ [TLS] ─▶ HTTPRequestDeadline ─▶ HTTP decoder (llhttp, head ≤ limits) ─▶ pipelining ─▶ [upgrade]
///        ─▶ HTTPErrorResponder (431 / 400) ─▶ WebRequestHandler (refusals, WebRoutes) ─▶ response encoder
/// ```
/// On an `ssl:` endpoint NIOSSL's server handler comes first, with the certificate store's current context
/// (so a renewal reaches new connections); the request-head deadline counts from the connection, so a
/// handshake that stalls is closed with the head's timeout.
/// Connections beyond ``WebConfiguration/maximumHTTPConnections`` get `503` and are closed at once; one that
/// becomes a chat session (`/chat`) stops counting here (its ``Slot`` is released at the upgrade).
///
/// Thread-safety: `start`/`stop` from any task; the open-connection count lives on ``eventLoop``.
final class HTTPListener: Sendable {
    /// What a listener adds to the pipeline for the WebSocket upgrade, if anything: built per connection.
    typealias UpgradeFactory = @Sendable (_ channel: any Channel, _ httpHandlers: HTTPHandlers) -> NIOHTTPServerUpgradeConfiguration?

    /// The handlers this listener added after NIO's, for an upgrade to remove, and the connection's place
    /// in the HTTP count, for an upgrade to give back.
    struct HTTPHandlers {
        let deadline: HTTPRequestDeadline
        let errorResponder: HTTPErrorResponder
        let requestHandler: WebRequestHandler
        let slot: Slot
    }

    /// One connection's place among the open HTTP connections; given back once, at close or at an upgrade
    /// (a chat session is the hub's to count and to close). Only touched on the listener's event loop.
    final class Slot {
        private let open: NIOLoopBoundBox<[ObjectIdentifier: any Channel]>
        private let channel: any Channel
        private var held = true

        fileprivate init(_ open: NIOLoopBoundBox<[ObjectIdentifier: any Channel]>, channel: any Channel) {
            self.open = open
            self.channel = channel
            open.value[ObjectIdentifier(channel)] = channel
        }

        /// Gives the place back (idempotent).
        func release() {
            guard held else { return }
            held = false
            open.value[ObjectIdentifier(channel)] = nil
        }
    }

    let eventLoop: any EventLoop
    private let configuration: WebConfiguration
    private let routes: any WebRoutes
    private let upgrade: UpgradeFactory?
    private let logger: Logger
    private let channels = NIOLockedValueBox<[any Channel]>([])
    /// Open HTTP connections (not chat sessions), closed at ``stop()``. Only touched on ``eventLoop``.
    private let open: NIOLoopBoundBox<[ObjectIdentifier: any Channel]>

    init(
        eventLoop: any EventLoop, configuration: WebConfiguration, routes: any WebRoutes, upgrade: UpgradeFactory? = nil,
        logger: Logger
    ) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.routes = routes
        self.upgrade = upgrade
        self.logger = logger
        self.open = NIOLoopBoundBox.makeBoxSendingValue([:], as: [ObjectIdentifier: any Channel].self, eventLoop: eventLoop)
    }

    static let overloadedResponse: ByteBuffer = {
        let body = "503 Service Unavailable: too many connections\n"
        return ByteBuffer(
            string: "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: \(body.utf8.count)\r\nX-Content-Type-Options: nosniff\r\nRetry-After: 5\r\n"
                + "Connection: close\r\n\r\n" + body)
    }()

    /// Binds every endpoint; returns the bound addresses. A failure is a `ListenError` naming the endpoint. An
    /// `ssl:` endpoint's certificate must be in `certificates` (the server loaded it: ``ChatServerRuntime``).
    func start(_ endpoints: [Endpoint], certificates: [TLSFiles: TLSCertificateStore] = [:]) async throws -> [SocketAddress] {
        var addresses: [SocketAddress] = []
        for endpoint in endpoints {
            let channel: any Channel
            do {
                let tls = try endpoint.tlsFiles.map { files in
                    guard let store = certificates[files] else { throw ChannelError.operationUnsupported }
                    return store
                }
                channel = try await makeBootstrap(tls: tls).bind(to: endpoint).get()
            } catch {
                throw ListenError(endpoint: endpoint, underlying: error)
            }
            channels.withLockedValue { $0.append(channel) }
            if let address = channel.localAddress { addresses.append(address) }
        }
        return addresses
    }

    /// Closes the listening sockets and the open HTTP connections (a keep-alive connection would otherwise
    /// hold the stop for its idle timeout); chat sessions are the hub's to close.
    func stop() async {
        for channel in channels.withLockedValue({ $0 }) { try? await channel.close() }
        let open = self.open
        let connections = try? await eventLoop.submit { Array(open.value.values) }.get()
        for connection in connections ?? [] { connection.close(promise: nil) }
    }

    private func makeBootstrap(tls: TLSCertificateStore?) -> ServerBootstrap {
        let configuration = self.configuration
        let logger = self.logger
        let routes = self.routes
        let upgrade = self.upgrade
        return ServerBootstrap(group: eventLoop)
            .serverChannelOption(.maxMessagesPerRead, value: 64)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard open.value.count < configuration.maximumHTTPConnections else {
                        channel.writeAndFlush(HTTPListener.overloadedResponse).whenComplete { _ in
                            channel.close(promise: nil)
                        }
                        return
                    }
                    let slot = Slot(open, channel: channel)
                    channel.closeFuture.assumeIsolated().whenComplete { _ in slot.release() }
                    try options(channel)
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls.context)) }
                    let deadline = HTTPRequestDeadline(timeout: configuration.headerTimeout)
                    let errorResponder = HTTPErrorResponder(logger: logger)
                    let requestHandler = WebRequestHandler(routes: routes, deadline: deadline, logger: logger)
                    let handlers = HTTPHandlers(
                        deadline: deadline, errorResponder: errorResponder, requestHandler: requestHandler, slot: slot)
                    try sync.addHandler(deadline)
                    var limits = NIOHTTPDecoderLimitConfiguration()
                    limits.maxHeaderListSize = configuration.maximumHeaderBytes
                    limits.maxHeaderFieldSize = configuration.maximumHeaderBytes
                    limits.maxHeaderFieldCount = configuration.maximumHeaderFields
                    try sync.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withServerUpgrade: upgrade?(channel, handlers),
                        withErrorHandling: false, withOutboundHeaderValidation: true,
                        withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
                    try sync.addHandler(errorResponder)
                    try sync.addHandler(requestHandler)
                }
            }
    }

    private func options(_ channel: any Channel) throws {
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.allowRemoteHalfClosure, value: false)
    }
}

// Confined to the listener's event loop (see `HTTPListener.Slot`).
@available(*, unavailable)
extension HTTPListener.Slot: Sendable {}
