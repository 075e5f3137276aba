import Foundation
import NIOConcurrencyHelpers
import SwitchboardStorage
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A ``PrivatePostgresCluster`` that checks passwords: TCP logins need SCRAM-SHA-256, except `postgres`
/// (the test's own admin connection) and any role on the database `trustdb` (so an unknown role gets the
/// server's own "role does not exist"). Unix-socket logins stay trusted.
final class PasswordCheckingCluster {
    let cluster: PrivatePostgresCluster
    var port: Int { cluster.port }

    /// Starts a cluster and switches its authentication, or returns nil when no PostgreSQL server
    /// binaries exist (outside CI).
    static func make() throws -> PasswordCheckingCluster? {
        guard let cluster = try PrivatePostgresCluster.make() else { return nil }
        let checking = PasswordCheckingCluster(cluster: cluster)
        let hba = """
            local all all trust
            host all postgres 127.0.0.1/32 trust
            host trustdb all 127.0.0.1/32 trust
            host all all 127.0.0.1/32 scram-sha-256

            """
        // Overwritten in place, so the file keeps its owner (the server's user).
        try hba.write(toFile: "\(cluster.directory)/data/pg_hba.conf", atomically: false, encoding: .utf8)
        try checking.execute("CREATE DATABASE trustdb")
        try checking.execute("SELECT pg_reload_conf()")
        return checking
    }

    private init(cluster: PrivatePostgresCluster) { self.cluster = cluster }

    /// Runs SQL as the `postgres` superuser.
    func execute(_ sql: String) throws {
        let admin = try PostgresConnection(uri: cluster.url)
        defer { admin.close() }
        try admin.executeScript(sql)
    }

    /// Creates a login role with `password` and a database of its own (so migrations may create tables).
    func createRole(_ role: String, password: String) throws {
        let quoted = "'" + password.replacingOccurrences(of: "'", with: "''") + "'"
        try execute("CREATE ROLE \(role) LOGIN PASSWORD \(quoted)")
        try execute("CREATE DATABASE \(role) OWNER \(role)")
    }
}

/// Runs the switchboard binary until it exits or `deadline` seconds pass (then SIGKILLs it); returns the
/// exit status (-1 when killed), everything it wrote to stdout and stderr, and how long it ran.
func runSwitchboardBounded(
    _ arguments: [String], in directory: URL, deadline: TimeInterval = 15
) throws -> (status: Int32, output: String, seconds: TimeInterval) {
    let process = Process()
    ServerProcess.configure(process, arguments: arguments, in: directory, environment: [:])
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    let started = Date()
    try process.run()
    // Read to the end concurrently so the pipe cannot fill and block the child; EOF comes with its exit.
    let output = NIOLockedValueBox(Data())
    let read = DispatchGroup()
    read.enter()
    DispatchQueue.global().async {
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        output.withLockedValue { $0 = data }
        read.leave()
    }
    var status: Int32 = -1
    if exited.wait(timeout: .now() + deadline) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    } else {
        process.waitUntilExit()
        status = process.terminationStatus
    }
    let seconds = Date().timeIntervalSince(started)
    read.wait()
    return (status, output.withLockedValue { String(decoding: $0, as: UTF8.self) }, seconds)
}
