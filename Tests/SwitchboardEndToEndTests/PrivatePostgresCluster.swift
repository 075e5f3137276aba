import Foundation
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL cluster of this test's own, so the test may stop and restart the server under a running
/// Switchboard without disturbing the shared test database. Uses the PostgreSQL server binaries
/// (`/usr/lib/postgresql/*/bin`); as root it runs them as the `postgres` user (the DESIGN.md recipe).
final class PrivatePostgresCluster {
    let directory: String
    let port: Int
    private let binDirectory: String
    private let asPostgresUser: Bool

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    /// Creates and starts a cluster, or returns nil when no PostgreSQL server binaries exist (outside CI).
    static func make() throws -> PrivatePostgresCluster? {
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .sorted(by: >)
            .map { "/usr/lib/postgresql/\($0)/bin" }
            .filter { FileManager.default.isExecutableFile(atPath: "\($0)/pg_ctl") }
        guard let bin = candidates.first else {
            if TestDatabases.isCI { throw TestDatabaseUnavailable(description: "no PostgreSQL server binaries under /usr/lib/postgresql") }
            return nil
        }
        return try PrivatePostgresCluster(binDirectory: bin)
    }

    private init(binDirectory: String) throws {
        self.binDirectory = binDirectory
        asPostgresUser = getuid() == 0
        // A short path: the Unix socket lives here too, and socket paths are limited to ~100 bytes.
        var template = Array("/tmp/sbpg.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        directory = String(cString: made)
        port = try PrivatePostgresCluster.freePort()
        if asPostgresUser { try run("/bin/chown", ["postgres:postgres", directory], asPostgres: false) }
        try run("\(binDirectory)/initdb", ["-D", "\(directory)/data", "-U", "postgres", "-E", "UTF8",
                                          "--auth-local=trust", "--auth-host=trust", "--no-sync"])
        try start()
    }

    /// Starts the server and waits until it accepts connections (pg_ctl -w).
    func start() throws {
        try run("\(binDirectory)/pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/log", "-w", "-o",
                                          "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off",
                                          "start"])
    }

    /// Stops the server (fast: open connections are cut, as in a crash or a restart).
    func stop() throws {
        try run("\(binDirectory)/pg_ctl", ["-D", "\(directory)/data", "-m", "fast", "-w", "stop"])
    }

    deinit {
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a tool to completion with posix_spawn and waitpid. (Foundation's `Process.waitUntilExit` was
    /// seen to hang here on `runuser`, whose child daemonises: the exited child stayed unreaped.)
    private func run(_ tool: String, _ arguments: [String], asPostgres: Bool? = nil) throws {
        let argv = (asPostgres ?? asPostgresUser) ? ["/usr/sbin/runuser", "-u", "postgres", "--", tool] + arguments : [tool] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Int32(0)...2 {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            let log = (try? String(contentsOfFile: "\(directory)/log", encoding: .utf8)) ?? ""
            throw TestDatabaseUnavailable(description: "\(argv.joined(separator: " ")) failed (status \(status)): \(log.suffix(2000))")
        }
    }

    /// A port nothing listens on right now (bound to 0 and released).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
