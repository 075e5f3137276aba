import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import SwitchboardChat
import SwitchboardDatabase

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
            eventLoop: runtime.eventLoop, configuration: configuration, routes: routes, logger: runtime.logger)
        state.withLockedValue {
            $0.listener = listener
            $0.stats = stats
        }
        let addresses = try await listener.start(configuration.endpoints)
        state.withLockedValue { $0.addresses = addresses }
        for (endpoint, address) in zip(configuration.endpoints, addresses) {
            runtime.logger.notice(
                "serving the web page", metadata: ["endpoint": "\(endpoint)", "address": "\(address.ipAddress.map { "\($0):\(address.port ?? 0)" } ?? address.pathname ?? "?")"])
        }
    }

    /// How many times the dashboard's numbers were read from the history (tests: the cache).
    func statsReads() async throws -> Int {
        guard let stats = state.withLockedValue({ $0.stats }) else { return 0 }
        return try await stats.eventLoop.submit { stats.value.reads }.get()
    }

    public func stop() async {
        await state.withLockedValue { $0.listener }?.stop()
    }
}
