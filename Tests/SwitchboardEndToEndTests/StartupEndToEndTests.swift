import Foundation
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `switchboard serve` starting against a database that is not there: interrupting the wait, failing at
/// once on what waiting cannot fix, and saying why it cannot listen before anything else.
final class StartupEndToEndTests: XCTestCase {
    /// Ctrl-C or SIGTERM while start-up waits for a database that is down stops the server within about a
    /// second with one line, `interrupted while waiting for the database`, and exit status 130.
    func testSignalWhileWaitingForDatabaseStopsPromptly() throws {
        let directory = try makeTemporaryDirectory()
        let closedPort = try Self.closedPort()
        for signal in [SIGINT, SIGTERM] {
            let server = ServerProcess(
                arguments: ["serve", "--listen", "tcp:0:interface=127.0.0.1", "--db-connect-timeout", "60",
                            "--database", "postgres://nobody@127.0.0.1:\(closedPort)/db"],
                workingDirectory: directory)
            try server.process.run()
            try server.waitForLog(containing: "database not reachable yet")
            let sent = Date()
            kill(server.process.processIdentifier, signal)
            let status = server.waitForExit(timeout: 10)
            let seconds = Date().timeIntervalSince(sent)
            XCTAssertLessThan(seconds, 2, "signal \(signal) took \(seconds) s to stop the server")
            XCTAssertEqual(status, 130, "signal \(signal)")
            let log = try server.waitForLog(containing: "interrupted while waiting for the database", timeout: 5)
            XCTAssertFalse(log.contains("CancellationError"), log)
        }
    }

    /// What waiting cannot fix fails at once (well before `--db-connect-timeout 60`) with its real cause:
    /// a SQLite directory that does not exist, a read-only SQLite file, and PostgreSQL's missing database,
    /// wrong password, unknown role and required TLS.
    func testUnfixableDatabaseFailuresExitAtOnceWithTheCause() throws {
        let directory = try makeTemporaryDirectory()
        let readOnly = directory.appendingPathComponent("readonly.sqlite").path
        XCTAssertTrue(FileManager.default.createFile(atPath: readOnly, contents: Data()))
        try makeReadOnly(readOnly)
        var cases: [(database: String, cause: String)] = [
            ("sqlite:\(directory.path)/no-such-dir/history.sqlite", "the directory \(directory.path)/no-such-dir does not exist"),
            ("sqlite:\(readOnly)", "readonly database"),
        ]
        // Without PostgreSQL's server binaries the SQLite cases still run; the skip comes at the end.
        var cluster: PasswordCheckingCluster?
        var skip: (any Error)?
        do { cluster = try PasswordCheckingCluster.make() } catch let error as XCTSkip { skip = error }
        if let cluster {
            try cluster.createRole("chat", password: "right horse")
            let host = "127.0.0.1:\(cluster.port)"
            cases += [
                ("postgres://postgres@\(host)/no_such_db", #"database "no_such_db" does not exist"#),
                ("postgres://chat:wrong-horse@\(host)/chat", #"password authentication failed for user "chat""#),
                ("postgres://ghost@\(host)/trustdb", #"role "ghost" does not exist"#),
                ("postgres://postgres@\(host)/postgres?sslmode=require", "server does not support SSL"),
            ]
        }
        for (database, cause) in cases {
            let run = try runSwitchboardBounded(
                ["serve", "--listen", "tcp:0:interface=127.0.0.1", "--db-connect-timeout", "60", "--database", database],
                in: directory)
            XCTAssertEqual(run.status, 1, "\(database):\n\(run.output)")
            XCTAssertLessThan(run.seconds, 10, "\(database) was retried:\n\(run.output)")
            let firstError = Self.lines(run.output, atLeast: "error").first ?? ""
            XCTAssertTrue(firstError.contains(cause), "\(database): expected '\(cause)' in the first error line:\n\(run.output)")
            XCTAssertFalse(run.output.contains("cannot reach"), "\(database) was treated as unreachable:\n\(run.output)")
        }
        if let skip { throw skip }
    }

    /// A listen endpoint that cannot be bound is reported first — the first error line is
    /// `cannot listen on ENDPOINT: REASON` — and only then does the server tidy up.
    func testListenFailureIsReportedBeforeTidyingUp() throws {
        let directory = try makeTemporaryDirectory()
        let busy = try ServerProcess.serve(database: "sqlite:\(directory.path)/a.sqlite", in: directory)
        defer { busy.terminate() }
        let run = try runSwitchboardBounded(
            ["serve", "--listen", "tcp:\(busy.port):interface=127.0.0.1", "--database", "sqlite:\(directory.path)/b.sqlite"],
            in: directory)
        XCTAssertEqual(run.status, 1, run.output)
        let cause = "cannot listen on tcp:127.0.0.1:\(busy.port): Address already in use"
        XCTAssertEqual(Self.lines(run.output, atLeast: "error").first.map { $0.hasSuffix(cause) }, true, run.output)
        let lines = run.output.split(separator: "\n")
        let causeIndex = lines.firstIndex { $0.contains(cause) } ?? lines.endIndex
        let tidyIndex = lines.firstIndex { $0.contains("shutting down") || $0.contains("stopped") } ?? lines.endIndex
        XCTAssertLessThan(causeIndex, tidyIndex, "the cause must come before the tidy-up:\n\(run.output)")
        XCTAssertEqual(lines.filter { $0.contains(cause) }.count, 1, "said once:\n\(run.output)")
    }

    // MARK: - Helpers

    /// Log lines at `level` or above (swift-log's `TIMESTAMP LEVEL label: …`).
    static func lines(_ log: String, atLeast level: String) -> [String] {
        let order = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        guard let minimum = order.firstIndex(of: level) else { return [] }
        return log.split(separator: "\n").map(String.init).filter { line in
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count > 1, let rank = order.firstIndex(of: String(fields[1])) else { return false }
            return rank >= minimum
        }
    }

    /// Makes `path` unwritable even for root (immutable attribute, cleared at teardown), or plain
    /// read-only for other users.
    func makeReadOnly(_ path: String) throws {
        guard getuid() == 0 else {
            try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
            return
        }
        guard Self.chattr(["+i", path]) else {
            throw TestEnvironment.unavailable("chattr +i is not supported on this file system", providedByTestCommand: false)
        }
        // Teardown blocks run last-added first: this one before the directory is removed.
        addTeardownBlock { _ = Self.chattr(["-i", path]) }
    }

    private static func chattr(_ arguments: [String]) -> Bool {
        (try? ChildProcess.run("/usr/bin/chattr", arguments, timeout: 10))?.status == 0
    }

    /// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
    static func closedPort() throws -> Int { try FreePort.tcp() }
}
