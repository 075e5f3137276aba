import Foundation
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// systemd without systemd: `Type=notify` messages read by the test from a Unix datagram socket it made
/// (`NOTIFY_SOCKET`), socket activation with a listening socket the test passes as descriptor 3, and the
/// unit file in `contrib/` checked by `systemd-analyze`.
final class SystemdEndToEndTests: XCTestCase {
    /// `READY=1` comes once the server listens (with the client count in `STATUS=`); SIGHUP is framed by
    /// `RELOADING=1` (with `MONOTONIC_USEC`) and `READY=1`, whose status counts the client connected
    /// meanwhile; SIGTERM sends `STOPPING=1` and the stop completes (exit 0).
    func testNotifySocketGetsReadyReloadingStatusAndStopping() throws {
        let directory = try makeTemporaryDirectory()
        let notify = try NotifySocket(in: directory)
        let server = try ServerProcess.serve(
            database: "sqlite:\(directory.path)/db.sqlite", in: directory, environment: ["NOTIFY_SOCKET": notify.address])
        defer { server.terminate() }
        let ready = try XCTUnwrap(notify.receive())
        XCTAssertEqual(ready["READY"], "1")
        XCTAssertEqual(ready["STATUS"], "0 clients connected")
        XCTAssertTrue(server.logText.contains("[SwitchboardChat] listening"), "READY=1 before listening:\n\(server.logText)")

        let (client, _) = try joinClient(server)
        kill(server.process.processIdentifier, SIGHUP)
        let reloading = try XCTUnwrap(notify.receive(until: "RELOADING"))
        XCTAssertEqual(reloading["RELOADING"], "1")
        XCTAssertNotNil(reloading["MONOTONIC_USEC"].flatMap(UInt64.init), "\(reloading)")
        let reloaded = try XCTUnwrap(notify.receive(until: "READY"))
        XCTAssertEqual(reloaded["STATUS"], "1 client connected")

        server.process.terminate()
        let stopping = try XCTUnwrap(notify.receive(until: "STOPPING"))
        XCTAssertEqual(stopping["STOPPING"], "1")
        XCTAssertEqual(client.readLine(), "* server shutting down")
        XCTAssertEqual(server.waitForExit(timeout: 30), 0)
    }

    /// An abstract `NOTIFY_SOCKET` (`@name`, as systemd uses in containers) works too; without
    /// `NOTIFY_SOCKET` nothing is sent and the server runs as ever.
    func testAnAbstractNotifySocketWorksToo() throws {
        let directory = try makeTemporaryDirectory()
        let notify = try NotifySocket(in: directory, abstract: true)
        let server = try ServerProcess.serve(
            database: "sqlite:\(directory.path)/db.sqlite", in: directory, environment: ["NOTIFY_SOCKET": notify.address])
        XCTAssertEqual(notify.receive()?["READY"], "1")
        XCTAssertEqual(server.terminate(), 0)
    }

    /// Socket activation: the server serves on the socket systemd passes (`--listen
    /// systemd:domain=INET:index=0`), here one the test made; clients queued before the server started are
    /// served too.
    func testSocketActivationServesOnThePassedSocket() throws {
        let directory = try makeTemporaryDirectory()
        let (socket, port) = try SocketActivatedServer.listeningSocket()
        defer { close(socket) }
        // A client that connects before the server runs waits in the listen backlog, as under systemd.
        let early = try LineClient(port: port)
        let server = try SocketActivatedServer(
            socket: socket, port: port,
            arguments: ["serve", "--listen", "systemd:domain=INET:index=0", "--database", "sqlite:db.sqlite"],
            in: directory)
        XCTAssertTrue(server.waitForLog(containing: "endpoint=systemd:domain=INET:index=0"))
        XCTAssertEqual(early.readLine()?.hasPrefix("* Welcome, guest1!"), true)
        let late = try LineClient(port: port)
        XCTAssertEqual(late.readLine()?.hasPrefix("* Welcome, guest2!"), true)
        XCTAssertEqual(server.terminate(), 0, server.log)
    }

    /// What can go wrong with socket activation stops the start with one line, exit 1: a socket of another
    /// family than the endpoint says, an index beyond those passed, no sockets passed, sockets meant for
    /// another process.
    func testSocketActivationMistakesAreOneClearError() throws {
        let directory = try makeTemporaryDirectory()
        let (socket, port) = try SocketActivatedServer.listeningSocket()
        defer { close(socket) }
        let cases: [(endpoint: String, environment: String, error: String)] = [
            ("systemd:domain=UNIX:index=0", #"LISTEN_FDS=1 LISTEN_PID=$$"#, "socket 0 (descriptor 3) is INET, not UNIX"),
            ("systemd:domain=INET:index=1", #"LISTEN_FDS=1 LISTEN_PID=$$"#, "systemd passed 1 socket; index=1 is not one of them"),
            ("systemd:domain=INET:index=0", "NOTHING=1", "systemd passed no sockets (LISTEN_FDS is not set)"),
            ("systemd:domain=INET:index=0", "LISTEN_FDS=1 LISTEN_PID=1",
             "the sockets systemd passed are for another process (LISTEN_PID is not this process)"),
        ]
        for (endpoint, environment, error) in cases {
            let server = try SocketActivatedServer(
                socket: socket, port: port, arguments: ["serve", "--listen", endpoint, "--database", "sqlite:db.sqlite"],
                in: directory, listenEnvironment: environment)
            XCTAssertEqual(server.waitForExit(), 1, "\(endpoint) \(environment): \(server.log)")
            XCTAssertTrue(server.log.contains("cannot listen on \(endpoint): \(error)"), "\(endpoint) \(environment): \(server.log)")
        }
    }

    /// `contrib/switchboard.service` and `contrib/switchboard.socket` are valid units (`systemd-analyze
    /// verify`, with the binary path pointed at the build), and the service's sandbox keeps its exposure
    /// low in `systemd-analyze security` (at most 3 of 10).
    func testTheContribUnitsVerify() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            throw TestEnvironment.unavailable("systemd-analyze is not installed", providedByTestCommand: false)
        }
        let directory = try makeTemporaryDirectory()
        let contrib = TestPaths.repositoryRoot.appendingPathComponent("contrib")
        let binary = try ServerProcess.requireBinary().path
        for name in ["switchboard.service", "switchboard.socket"] {
            let text = try String(contentsOf: contrib.appendingPathComponent(name), encoding: .utf8)
            try Data(text.replacingOccurrences(of: "/usr/local/bin/switchboard", with: binary).utf8)
                .write(to: directory.appendingPathComponent(name))
        }
        let verify = try ChildProcess.run(
            "/usr/bin/systemd-analyze",
            ["verify", "--man=no"] + ["switchboard.socket", "switchboard.service"].map { directory.appendingPathComponent($0).path },
            in: directory, timeout: 60, mergeErrors: true)
        let problems = verify.output.split(separator: "\n").filter { line in
            // A machine without systemd as init has no bus; that is not the unit's fault.
            !line.contains("Failed to connect to bus") && !line.contains("is not a system unit") && !line.isEmpty
        }
        XCTAssertTrue(problems.isEmpty, "systemd-analyze verify: \(verify.output)")

        let security = try ChildProcess.run(
            "/usr/bin/systemd-analyze",
            ["security", "--offline=yes", "--no-pager", directory.appendingPathComponent("switchboard.service").path],
            in: directory, timeout: 60, mergeErrors: true)
        guard let range = security.output.range(of: #"Overall exposure level for \S+: ([0-9.]+) (\S+)"#, options: .regularExpression)
        else { return XCTFail("no exposure level in: \(security.output.suffix(800))") }
        let summary = String(security.output[range])
        let exposure = Double(summary.split(separator: " ").dropLast().last ?? "") ?? 10
        XCTAssertLessThanOrEqual(exposure, 3.0, summary)  // 1.4 with systemd 252; 10 is an unsandboxed service
    }
}
