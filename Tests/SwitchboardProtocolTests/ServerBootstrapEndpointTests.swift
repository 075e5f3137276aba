import Foundation
import NIOCore
import NIOPosix
import SwitchboardProtocol
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `ServerBootstrap.bind(to:)` on real sockets: what each endpoint sets, and how a failure comes back.
final class ServerBootstrapEndpointTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        try? group.syncShutdownGracefully()
        group = nil
    }

    /// `tcp:0:interface=127.0.0.1` listens on a free port of that interface, and a client can connect to it.
    func testTcpPortZeroListensOnAFreePortOfTheInterface() throws {
        let listener = try bootstrap().bind(to: Endpoint(parsing: "tcp:0:interface=127.0.0.1")).wait()
        defer { try? listener.close().wait() }
        XCTAssertEqual(listener.localAddress?.ipAddress, "127.0.0.1")
        let port = try XCTUnwrap(listener.localAddress?.port)
        XCTAssertGreaterThan(port, 0)
        let client = try ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).wait()
        try client.close().wait()
    }

    /// A port another listener holds fails with the system's reason, for the caller to say with the endpoint.
    func testAPortInUseFailsWithTheSystemsReason() throws {
        let first = try bootstrap().bind(to: Endpoint(parsing: "tcp:0:interface=127.0.0.1")).wait()
        defer { try? first.close().wait() }
        let port = try XCTUnwrap(first.localAddress?.port)
        XCTAssertThrowsError(try bootstrap().bind(to: Endpoint(parsing: "tcp:\(port):interface=127.0.0.1")).wait()) {
            XCTAssertEqual(($0 as? IOError)?.errnoCode, EADDRINUSE, "\($0)")
        }
    }

    /// `reuseport` lets two listeners share one port (the kernel spreads connections over them).
    func testReusePortLetsTwoListenersShareAPort() throws {
        let first = try bootstrap().bind(to: Endpoint(parsing: "tcp:0:interface=127.0.0.1:reuseport")).wait()
        defer { try? first.close().wait() }
        let port = try XCTUnwrap(first.localAddress?.port)
        let second = try bootstrap().bind(to: Endpoint(parsing: "tcp:\(port):interface=127.0.0.1:reuseport")).wait()
        try second.close().wait()
    }

    /// `unix:PATH:mode=600` replaces a socket file left at the path and gives the new one the mode's bits.
    func testUnixEndpointReplacesALeftoverSocketAndSetsItsMode() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-bind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("s.sock").path
        try leaveSocketFile(at: path)

        let listener = try bootstrap().bind(to: Endpoint(parsing: "unix:\(path):mode=600")).wait()
        defer { try? listener.close().wait() }
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        let client = try ClientBootstrap(group: group).connect(unixDomainSocketPath: path).wait()
        try client.close().wait()
    }

    /// A `unix:` path in a directory that does not exist fails with the system's reason.
    func testUnixPathInAMissingDirectoryFails() throws {
        let path = "/nonexistent-\(UUID().uuidString)/s.sock"
        XCTAssertThrowsError(try bootstrap().bind(to: Endpoint(parsing: "unix:\(path)")).wait()) {
            XCTAssertNotNil($0 as? IOError, "\($0)")
        }
    }

    /// Binds a socket to `path` and closes it without removing the file: what a crashed server leaves behind.
    private func leaveSocketFile(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0, "bind: \(String(cString: strerror(errno)))")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "no leftover socket file to replace")
    }

    private func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: group).childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
    }
}
