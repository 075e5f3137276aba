import Logging
import NIOCore
import NIOPosix
import SwitchboardChat
import SwitchboardProtocol
import XCTest
import SwitchboardDatabase

/// A ``ChatServer`` started inside the test process on what the test gives it (its event loop group and
/// database pool), on port 0, with the bound address read from `start()` — no child process, no log
/// scraping (the way HummingbirdTesting starts an application).
final class InProcessServerTests: XCTestCase {
    /// Two clients chat through a server the test owns; after `stop()` their rows are closed in the database,
    /// and the group and pool the test gave it are still the test's to use (and to shut down).
    func testServerRunsOnTheGroupAndPoolItIsGiven() async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("in-process.sqlite").path
        var configuration = ServerConfiguration()
        configuration.endpoints = [.tcp(host: "127.0.0.1", port: 0, backlog: Endpoint.defaultBacklog)]
        configuration.database = .sqlite(path: path)
        var logger = Logger(label: "in-process")
        logger.logLevel = .critical
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = DatabasePool(url: configuration.database, numberOfThreads: 1, logger: logger)
        pool.start()
        let server = ChatServer(configuration: configuration, eventLoopGroup: group, pool: pool, logger: logger)

        let addresses = try await server.start()
        let port = try XCTUnwrap(addresses.first?.port)
        let alice = try LineClient(port: port)
        XCTAssertEqual(alice.readLine()?.hasPrefix("* Welcome, guest1!"), true)
        let bob = try LineClient(port: port)
        XCTAssertEqual(bob.readLine()?.hasPrefix("* Welcome, guest2!"), true)
        alice.expect("* guest2 joined (2 clients connected)")
        bob.send("hello from the same process\r\n")
        alice.expect("<guest2> hello from the same process")
        await server.stop()
        alice.expect("* server shutting down")

        // The pool is still ours: the rows the server closed are there.
        let rows = try await pool.withConnection { connection throws(DatabaseError) in
            try connection.query("SELECT close_reason FROM connections ORDER BY id", [])
        }
        XCTAssertEqual(rows.map { $0[0].string }, ["server shutdown", "server shutdown"])
        try await pool.shutdown()
        try await group.shutdownGracefully()
    }

    /// A library caller gets the configuration's own error, not a trap, for a value out of range.
    func testInvalidConfigurationIsRefusedByStart() async throws {
        var configuration = ServerConfiguration()
        configuration.chat.maximumLineLength = 0
        configuration.database = .sqlite(path: try makeTemporaryDirectory().appendingPathComponent("x.sqlite").path)
        let server = ChatServer(configuration: configuration, logger: Logger(label: "in-process"))
        do {
            _ = try await server.start()
            XCTFail("start() accepted --max-line 0")
        } catch let error as ConfigurationError {
            XCTAssertEqual(error.description, "--max-line must be from 16 to 65536")
        }
        await server.stop(quietly: true)
    }
}
