import NIOCore
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

/// `tcp:PORT:reuseport`: several servers on one host share one port (SO_REUSEPORT) and the kernel spreads
/// the connections over them.
final class ReusePortTests: XCTestCase {
    /// Two servers (each with its own SQLite file: one file serves one server) bind the same port with
    /// `reuseport`; 32 newcomers are all welcomed, and both servers get some of them.
    func testTwoServersShareOnePortWithReusePort() async throws {
        let directory = try makeTemporaryDirectory()
        let port = try FreePort.tcp()
        let endpoint = try Endpoint(parsing: "tcp:\(port):interface=127.0.0.1:reuseport")
        var servers: [InProcessServer] = []
        for name in ["a", "b"] {
            // Each also listens on a port of its own (the first endpoint: the one `join()` uses), so the test
            // can ask each server for its count.
            servers.append(try await InProcessServer.start(database: "sqlite:\(directory.path)/\(name).sqlite", for: self) {
                $0.endpoints = [.tcp(host: "127.0.0.1", port: 0, backlog: Endpoint.defaultBacklog), endpoint]
            })
        }
        var clients: [LineClient] = []
        for _ in 0..<32 {
            let client = try LineClient(port: port)
            XCTAssertEqual(client.readLine()?.hasPrefix("* Welcome, "), true)
            clients.append(client)
        }
        var counts: [Int] = []
        for server in servers {
            let counted = try server.join().0
            counted.send("/count\r\n")
            let line = counted.readLines(until: { $0.hasSuffix(" in total") }).last ?? ""
            counts.append(Int(line.dropFirst(2).prefix { $0.isNumber }) ?? -1)
        }
        // Each server counts its share of the 32 plus the client that asked.
        XCTAssertEqual(counts.reduce(0, +), 32 + 2, "every client is on one of the two servers: \(counts)")
        XCTAssertTrue(counts.allSatisfy { $0 > 1 }, "the kernel spreads connections over both: \(counts)")
        for server in servers { await server.stop() }
        withExtendedLifetime(clients) {}
    }

    /// Without `reuseport` a second server cannot bind a port in use: the one clear start-up error.
    func testWithoutReusePortTheSecondServerCannotBind() async throws {
        let directory = try makeTemporaryDirectory()
        let port = try FreePort.tcp()
        let endpoint = try Endpoint(parsing: "tcp:\(port):interface=127.0.0.1")
        let first = try await InProcessServer.start(database: "sqlite:\(directory.path)/a.sqlite", for: self) {
            $0.endpoints = [endpoint]
        }
        do {
            _ = try await InProcessServer.start(database: "sqlite:\(directory.path)/b.sqlite", for: self) {
                $0.endpoints = [endpoint]
            }
            XCTFail("a second server bound a port in use without reuseport")
        } catch let error as ListenError {
            XCTAssertTrue("\(error)".contains("ddress already in use"), "\(error)")
        }
        await first.stop()
    }
}
