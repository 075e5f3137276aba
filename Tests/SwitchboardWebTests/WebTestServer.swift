import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardDatabase
import SwitchboardTestSupport
import SwitchboardWeb
import XCTest

/// A ``ChatServer`` with a ``WebServer`` attached, started in the test process on 127.0.0.1 port 0 for both
/// (telnet and web), on a group and pool the test owns; stopped when the test ends.
final class WebTestServer: Sendable {
    let server: ChatServer
    let web: WebServer
    let database: DatabaseURL
    let chatPort: Int
    let webPort: Int
    /// The metrics endpoint's port, when started with `metrics: true`.
    let metricsPort: Int
    let log: CapturedLog
    let pool: DatabasePool
    private let group: MultiThreadedEventLoopGroup
    private let stopped = NIOLockedValueBox(false)

    private init(
        server: ChatServer, web: WebServer, database: DatabaseURL, chatPort: Int, webPort: Int, metricsPort: Int,
        log: CapturedLog, pool: DatabasePool, group: MultiThreadedEventLoopGroup
    ) {
        self.metricsPort = metricsPort
        self.server = server
        self.web = web
        self.database = database
        self.chatPort = chatPort
        self.webPort = webPort
        self.log = log
        self.pool = pool
        self.group = group
    }

    /// Starts a server on `database` (a fresh SQLite file by default) with the web listener on port 0;
    /// `configure` and `configureWeb` change the defaults. `webPort` pins the web port (a restart test).
    static func start(
        database: DatabaseURL? = nil, webPort: Int = 0, metrics: Bool = false, for testCase: XCTestCase,
        configure: (inout ServerConfiguration) -> Void = { _ in },
        configureWeb: (inout WebConfiguration) -> Void = { _ in }
    ) async throws -> WebTestServer {
        let databaseURL: DatabaseURL
        if let database {
            databaseURL = database
        } else {
            let fresh = try TestDatabases.sqlite()
            testCase.addTeardownBlock { fresh.drop() }
            databaseURL = fresh.url
        }
        var configuration = ServerConfiguration()
        configuration.endpoints = [.tcp(host: "127.0.0.1", port: 0, backlog: Endpoint.defaultBacklog)]
        configuration.database = databaseURL
        configuration.shutdownTimeout = .seconds(5)
        configure(&configuration)
        var webConfiguration = WebConfiguration()
        webConfiguration.endpoints = [.tcp(host: "127.0.0.1", port: webPort, backlog: Endpoint.defaultBacklog)]
        configureWeb(&webConfiguration)
        let log = CapturedLog()
        var logger = Logger(label: "switchboard") { _ in CapturingLogHandler(log: log) }
        logger.logLevel = .debug
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = DatabasePool(url: databaseURL, numberOfThreads: configuration.databaseThreads, logger: logger)
        let server = ChatServer(configuration: configuration, eventLoopGroup: group, pool: pool, logger: logger)
        let web = WebServer(configuration: webConfiguration)
        server.attach(web)
        let metricsServer = metrics ? MetricsServer(endpoints: [.tcp(host: "127.0.0.1", port: 0, backlog: 16)]) : nil
        if let metricsServer { server.attach(metricsServer) }
        let addresses: [SocketAddress]
        do {
            addresses = try await server.start()
        } catch {
            await server.stop(quietly: true)
            try? await pool.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        let running = WebTestServer(
            server: server, web: web, database: databaseURL, chatPort: addresses.first?.port ?? 0,
            webPort: web.addresses.first?.port ?? 0, metricsPort: metricsServer?.addresses.first?.port ?? 0, log: log,
            pool: pool, group: group)
        testCase.addTeardownBlock { await running.stop() }
        return running
    }

    /// Stops the server, then its pool and group. Safe to call more than once.
    func stop() async {
        let already = stopped.withLockedValue { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !already else { return }
        await server.stop()
        try? await pool.shutdown()
        try? await group.shutdownGracefully()
    }
}
