import Foundation
import SwitchboardTestSupport
import NIOConcurrencyHelpers
import XCTest
import SwitchboardDatabase

#if canImport(Glibc)
import Glibc
#endif

/// A ``RestartablePostgresCluster`` that checks passwords: TCP logins need SCRAM-SHA-256, except `postgres`
/// (the test's own admin connection) and any role on the database `trustdb` (so an unknown role gets the
/// server's own "role does not exist"). Unix-socket logins stay trusted.
final class PasswordCheckingCluster {
    let cluster: RestartablePostgresCluster
    var port: Int { cluster.port }

    /// Starts a cluster and switches its authentication (see ``RestartablePostgresCluster/make()`` for what
    /// happens without PostgreSQL's server binaries).
    static func make() throws -> PasswordCheckingCluster {
        let cluster = try RestartablePostgresCluster.make()
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

    private init(cluster: RestartablePostgresCluster) { self.cluster = cluster }

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
