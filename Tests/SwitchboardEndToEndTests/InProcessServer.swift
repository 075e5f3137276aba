import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase
import SwitchboardHistory

/// A ``ChatServer`` started inside the test process on port 0, on an event loop group and database pool the
/// test owns (the way HummingbirdTesting starts an application): for end-to-end tests where the process
/// is not the point. The bound port comes from `start()`, what it logs is captured in memory
/// (``waitForLog(containing:timeout:file:line:)``), and rows are read the way `switchboard history --json`
/// reads them (``history(limit:)``) or through a direct connection.
///
/// ``stop(file:line:)`` stops the server and then its pool and group; a test that never calls it has it
/// done by a teardown block.
final class InProcessServer: Sendable {
    let server: ChatServer
    let database: DatabaseURL
    let port: Int
    /// Every endpoint's bound address, in the order of `configuration.endpoints`.
    let addresses: [SocketAddress]
    let log: CapturedLog
    private let pool: DatabasePool
    private let group: MultiThreadedEventLoopGroup
    private let stopped = NIOLockedValueBox(false)

    private init(
        server: ChatServer, database: DatabaseURL, port: Int, addresses: [SocketAddress], log: CapturedLog,
        pool: DatabasePool, group: MultiThreadedEventLoopGroup
    ) {
        self.server = server
        self.database = database
        self.port = port
        self.addresses = addresses
        self.log = log
        self.pool = pool
        self.group = group
    }

    /// Starts a server for `database` (a URL as the CLI takes it) listening on 127.0.0.1 port 0 (plus any
    /// endpoints `configure` adds), with the CLI's defaults changed by `configure`, logging at debug level
    /// into memory. It is stopped when `testCase` ends, if the test has not stopped it.
    static func start(
        database: String, for testCase: XCTestCase,
        configure: (inout ServerConfiguration) throws -> Void = { _ in }
    ) async throws -> InProcessServer {
        var configuration = ServerConfiguration()
        configuration.endpoints = [.tcp(host: "127.0.0.1", port: 0, backlog: Endpoint.defaultBacklog)]
        configuration.database = try DatabaseURL(parsing: database)
        try configure(&configuration)
        let log = CapturedLog()
        var logger = Logger(label: "switchboard") { _ in CapturingLogHandler(log: log) }
        logger.logLevel = .debug
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = DatabasePool(url: configuration.database, numberOfThreads: configuration.databaseThreads, logger: logger)
        let server = ChatServer(configuration: configuration, eventLoopGroup: group, pool: pool, logger: logger)
        let addresses: [SocketAddress]
        do {
            addresses = try await server.start()
        } catch {
            await server.stop(quietly: true)
            try? await pool.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        guard let port = addresses.first(where: { $0.port != nil })?.port else {
            throw InProcessServerError.noPort(addresses.map { "\($0)" })
        }
        let running = InProcessServer(
            server: server, database: configuration.database, port: port, addresses: addresses, log: log, pool: pool,
            group: group)
        testCase.addTeardownBlock { await running.stop() }
        return running
    }

    /// Stops the server (as SIGTERM does in the binary), then the pool and group it ran on. Fails the test if
    /// the stop did not finish within the shutdown timeout (the process's "exit status 0"), unless
    /// `mayTimeOut`. Safe to call more than once.
    func stop(mayTimeOut: Bool = false, file: StaticString = #filePath, line: UInt = #line) async {
        let already = stopped.withLockedValue { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !already else { return }
        await server.stop()
        if !mayTimeOut {
            XCTAssertFalse(
                log.text.contains("shutdown timed out"), "the server did not stop in time:\n\(log.text)", file: file, line: line)
        }
        do {
            try await pool.shutdown()
            try await group.shutdownGracefully()
        } catch {
            XCTFail("shutting down the pool or group: \(error)", file: file, line: line)
        }
    }

    /// The port endpoint number `index` (in `configuration.endpoints` order) was bound to.
    func port(ofEndpoint index: Int) -> Int { addresses[index].port ?? 0 }

    /// Waits (bounded) until the log contains `needle`; returns the log.
    @discardableResult
    func waitForLog(
        containing needle: String, timeout: TimeInterval = 30, file: StaticString = #filePath, line: UInt = #line
    ) throws -> String {
        try log.wait(containing: needle, timeout: timeout, file: file, line: line)
    }

    /// The newest `limit` connection rows as `switchboard history --json` gives them (the same read-only
    /// reader and the same JSON encoding), parsed.
    func history(limit: Int = 50) async throws -> [[String: Any]] {
        try await InProcessServer.history(database, limit: limit)
    }

    /// ``history(limit:)`` for any database URL.
    static func history(_ database: DatabaseURL, limit: Int = 50) async throws -> [[String: Any]] {
        let records = try await HistoryRepository.readConnections(
            url: database, limit: limit, connectTimeout: .seconds(5), logger: Logger(label: "history"))
        return try records.map { record in
            let line = try record.jsonLine()
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        }
    }

    /// ``history(limit:)`` read (bounded, every 50 ms) until `condition` holds; fails the test and returns the
    /// last rows read if it never does.
    func waitForHistory(
        timeout: TimeInterval = 15, file: StaticString = #filePath, line: UInt = #line,
        until condition: ([[String: Any]]) -> Bool
    ) async throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let rows = try await history()
            if condition(rows) { return rows }
            if Date() >= deadline {
                XCTFail("history did not reach the expected state within \(timeout) s: \(rows)", file: file, line: line)
                return rows
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    /// Connects a client and returns it with its welcome line read.
    func join(file: StaticString = #filePath, line: UInt = #line) throws -> (LineClient, String) {
        let client = try LineClient(port: port)
        let welcome = client.readLine() ?? "<nothing>"
        XCTAssertTrue(welcome.hasPrefix("* Welcome, "), welcome, file: file, line: line)
        return (client, welcome)
    }
}

enum InProcessServerError: Error {
    case noPort([String])
}

extension XCTestCase {
    /// Runs `body` once per backend (``TestDatabases/forEach(file:line:_:)``) with a fresh database URL, as
    /// the CLI takes it, and a working directory; async bodies, for in-process servers.
    func forEachBackend(
        file: StaticString = #filePath, line: UInt = #line,
        _ body: (_ database: String, _ directory: URL) async throws -> Void
    ) async throws {
        try await TestDatabases.forEach(file: file, line: line) { database in
            try await body(database.cliURL, try makeTemporaryDirectory())
        }
    }
}

