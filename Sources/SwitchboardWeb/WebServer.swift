import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOWebSocket
import SwitchboardChat
import SwitchboardDatabase
import SwitchboardProtocol

/// The web listener (`--web`): the chat page, `/chat` as a WebSocket into the same hub as telnet, the
/// dashboard (`/stats`) and `/api/stats`. Attached to a ``ChatServer`` (``ChatServer/attach(_:)``), it runs on
/// the hub's event loop, so a browser's connection can become a chat session like any telnet one.
///
/// Thread-safety: `start`/`stop` from any task (the server calls them); everything per connection is on the
/// hub's loop.
public final class WebServer: ChatServerAttachment {
    public let configuration: WebConfiguration
    private let state = NIOLockedValueBox(State())

    private struct State {
        var listener: HTTPListener?
        var stats: NIOLoopBound<StatsService>?
        var addresses: [SocketAddress] = []
    }

    /// A web listener for `configuration` (validated at ``start(_:)``).
    public init(configuration: WebConfiguration) {
        self.configuration = configuration
    }

    /// The bound addresses (port 0 becomes real), once started.
    public var addresses: [SocketAddress] { state.withLockedValue { $0.addresses } }

    public func start(_ runtime: ChatServerRuntime) async throws {
        try configuration.validate()
        let assets = WebAssets.byPath(maximumLineLength: runtime.configuration.chat.maximumLineLength)
        let hub = runtime.hub
        let pool = runtime.pool
        let lifetime = configuration.statsCacheLifetime
        let logger = runtime.logger
        let stats = try await runtime.eventLoop.submit {
            NIOLoopBound(StatsService(hub: hub.value, pool: pool, lifetime: lifetime, logger: logger), eventLoop: hub.eventLoop)
        }.get()
        let routes = ChatPageRoutes(
            assets: assets, admission: WebSocketAdmission(allowedOrigins: configuration.allowedOrigins),
            stats: { stats.value.current() })
        let listener = HTTPListener(
            eventLoop: runtime.eventLoop, configuration: configuration, routes: routes,
            upgrade: WebServer.chatUpgrade(hub: hub, configuration: configuration, chat: runtime.configuration.chat),
            logger: runtime.logger)
        state.withLockedValue {
            $0.listener = listener
            $0.stats = stats
        }
        let addresses = try await listener.start(configuration.endpoints, certificates: runtime.certificates)
        state.withLockedValue { $0.addresses = addresses }
        for (endpoint, address) in zip(configuration.endpoints, addresses) {
            runtime.logger.notice(
                "serving the web page", metadata: ["endpoint": "\(endpoint)", "address": "\(address.ipAddress.map { "\($0):\(address.port ?? 0)" } ?? address.pathname ?? "?")"])
        }
    }

    /// `/chat`'s WebSocket upgrade: from an allowed origin (``WebSocketAdmission``), the connection leaves the
    /// HTTP handlers and becomes a ``ChatSession`` behind a ``WebSocketLineAdapter``, with the same socket
    /// options as a telnet client's (the send queue's water marks, one read per event).
    static func chatUpgrade(
        hub: NIOLoopBound<ChatHub>, configuration: WebConfiguration, chat: ChatConfiguration
    ) -> HTTPListener.UpgradeFactory {
        let admission = WebSocketAdmission(allowedOrigins: configuration.allowedOrigins)
        return { channel, httpHandlers in
            // Used only on the connection's loop, in the pipeline handler below.
            let bound = NIOLoopBound(httpHandlers, eventLoop: channel.eventLoop)
            let upgrader = ChatWebSocketUpgrader(
                // A frame over --max-line is refused by the decoder (1009) before its payload is read.
                maxFrameSize: max(chat.maximumLineLength, 125),
                shouldUpgrade: { channel, head in
                    channel.eventLoop.makeSucceededFuture(admission.check(head) == .accepted ? HTTPHeaders() : nil)
                },
                addChat: { channel in
                    let sync = channel.pipeline.syncOperations
                    let handlers = bound.value
                    _ = sync.removeHandler(handlers.deadline)
                    _ = sync.removeHandler(handlers.errorResponder)
                    _ = sync.removeHandler(handlers.requestHandler)
                    handlers.slot.release()
                    guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
                    let sendQueue = chat.maximumSendQueueBytes
                    try options.setOption(
                        .writeBufferWaterMark, value: .init(low: max(1, sendQueue / 2), high: max(2, sendQueue)))
                    try options.setOption(.maxMessagesPerRead, value: 1)
                    let chatHub = hub.value
                    let adapter = WebSocketLineAdapter(
                        maximumLineLength: chat.maximumLineLength,
                        maximumFragments: configuration.maximumFragmentsPerMessage,
                        pingInterval: configuration.pingInterval, isShuttingDown: { chatHub.isShuttingDown })
                    try sync.addHandler(adapter)
                    try sync.addHandler(ChatSession(hub: hub.value, transport: .websocket))
                    adapter.sessionAdded()
                })
            return (upgraders: [upgrader], completionHandler: { _ in })
        }
    }

    /// The certificate files of the `ssl:` endpoints (the server loads and reloads them).
    public var certificateFiles: [TLSFiles] { configuration.endpoints.compactMap(\.tlsFiles) }

    /// How many times the dashboard's numbers were read from the history (tests: the cache).
    func statsReads() async throws -> Int {
        guard let stats = state.withLockedValue({ $0.stats }) else { return 0 }
        return try await stats.eventLoop.submit { stats.value.reads }.get()
    }

    public func stop() async {
        await state.withLockedValue { $0.listener }?.stop()
    }
}

extension ChatTransport {
    /// A browser on `/chat`: `ws:` before its address in the history's `peer`.
    /// Its lines go out as text frames, one per line, framed by the session (broadcasts once per tick for all).
    public static let websocket = ChatTransport(name: "websocket", peerPrefix: "ws:", framing: .webSocketText)
}
