import Foundation
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The `switchboard` binary started the way systemd starts a socket-activated service: the test opens the
/// listening socket, the child gets it as file descriptor 3 with `LISTEN_FDS=1` and `LISTEN_PID` set to its
/// own pid (a shell sets it, then execs the binary, which keeps that pid). Its stderr goes to a file the
/// test reads.
final class SocketActivatedServer {
    let pid: pid_t
    /// The port of the socket passed (TCP sockets).
    let port: Int
    private let logPath: String
    private var exitStatus: Int32?

    /// Passes `socket` (already listening) as descriptor 3; `environment` replaces what the shell sets
    /// (`LISTEN_FDS`, `LISTEN_PID`: pass them to test what happens when they are wrong or missing).
    init(
        socket: Int32, port: Int, arguments: [String], in directory: URL,
        listenEnvironment: String = #"LISTEN_FDS=1 LISTEN_PID=$$"#
    ) throws {
        self.port = port
        logPath = directory.appendingPathComponent("activated-\(UUID().uuidString.prefix(8)).log").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, socket, 3)
        let binary = try ServerProcess.requireBinary().path
        let script = #"cd "$1" && shift && export "# + listenEnvironment + #" && exec "$@""#
        let argv = ["/bin/sh", "-c", "unset LISTEN_FDS LISTEN_PID; " + script, "sh", directory.path, binary] + arguments
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = ChildProcess.environment().map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
            for pointer in cEnvironment { free(pointer) }
        }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, "/bin/sh", &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        pid = child
    }

    /// What the server has logged so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Polls the log file (every 20 ms, bounded) until it contains `needle`, or the process exits first.
    @discardableResult
    func waitForLog(containing needle: String, timeout: TimeInterval = 30, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.contains(needle) { return true }
            if exitStatus != nil || hasExited() { return log.contains(needle) }
            usleep(20_000)
        }
        XCTFail("no '\(needle)' in the log within \(timeout) s:\n\(log)", file: file, line: line)
        return false
    }

    private func hasExited() -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : -1
            return true
        }
        return false
    }

    /// Waits (bounded) for the process to exit; its status, or -1 (then it is SIGKILLed).
    func waitForExit(timeout: TimeInterval = 30) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while exitStatus == nil && !hasExited() {
            if Date() >= deadline {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                exitStatus = -1
                break
            }
            usleep(10_000)
        }
        return exitStatus ?? -1
    }

    /// SIGTERM, then the exit status.
    func terminate() -> Int32 {
        if exitStatus == nil { kill(pid, SIGTERM) }
        return waitForExit()
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// A TCP socket listening on 127.0.0.1 on an ephemeral port: its descriptor and port.
    static func listeningSocket() throws -> (Int32, Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && listen(descriptor, 128) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard descriptor >= 0, ready else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }
}
