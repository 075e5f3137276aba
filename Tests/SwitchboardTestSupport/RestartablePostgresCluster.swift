import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL cluster of one test's own, which the test may stop and start again (to cut a running
/// client off and let it back in) without disturbing the shared test server.
///
/// Made with `scripts/pg-cluster.sh`, the recipe `scripts/with-postgres.sh` uses: trust authentication on
/// 127.0.0.1, a free port that stays the same across restarts, server binaries from
/// `/usr/lib/postgresql/*/bin` (as root they run as the `postgres` user). Shared by the storage and
/// end-to-end tests.
public final class RestartablePostgresCluster {
    public let directory: String
    public private(set) var port: Int

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    /// Creates and starts a cluster. Without PostgreSQL's server binaries it throws the skip that
    /// ``TestEnvironment`` gives (a failure in strict mode: `scripts/test.sh` installs them).
    public static func make() throws -> RestartablePostgresCluster {
        let found = try script(["bindir"])
        guard found.status == 0 else {
            throw TestEnvironment.unavailable(
                "no PostgreSQL server binaries: \(found.errors.trimmingCharacters(in: .whitespacesAndNewlines))",
                providedByTestCommand: true)
        }
        return try RestartablePostgresCluster()
    }

    private init() throws {
        // A short path: the Unix socket lives here too, and socket paths are limited to ~100 bytes.
        var template = Array("/tmp/sbpg.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        directory = String(cString: made)
        port = 0
        do {
            try Self.check(Self.script(["init", directory]))
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        // The port may be taken between choosing and binding: try a few.
        var lastFailure: Error?
        for _ in 0..<3 {
            port = try FreePort.tcp()
            do {
                try start()
                return
            } catch {
                lastFailure = error
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw lastFailure ?? POSIXError(.EADDRINUSE)
    }

    /// Starts the server on its port and waits until it accepts connections (pg_ctl -w).
    public func start() throws {
        try Self.check(Self.script(["start", directory, "\(port)"]))
    }

    /// Stops the server (fast: open connections are cut, as in a crash or a restart).
    public func stop() throws {
        try Self.check(Self.script(["stop", directory]))
    }

    deinit {
        if FileManager.default.fileExists(atPath: "\(directory)/data/postmaster.pid") { try? stop() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func script(_ arguments: [String]) throws -> ChildProcess.Result {
        try ChildProcess.run("/bin/bash", [TestPaths.script("pg-cluster.sh").path] + arguments, timeout: 120)
    }

    private static func check(_ result: ChildProcess.Result) throws {
        guard result.status == 0 else {
            throw TestDatabaseUnavailable(description: "scripts/pg-cluster.sh failed: \(result)")
        }
    }
}
