import Foundation
import SwitchboardDatabase

/// Why a PostgreSQL test database could not be provided.
public struct TestDatabaseUnavailable: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

extension TestDatabases {
    /// The environment variable naming the PostgreSQL server the tests may create databases on
    /// (`scripts/with-postgres.sh` starts a throwaway cluster and sets it).
    public static let postgresURLVariable = "SWITCHBOARD_TEST_POSTGRES_URL"

    /// A fresh, empty PostgreSQL database (`sbtest_<random hex>`) on the server named by
    /// `SWITCHBOARD_TEST_POSTGRES_URL`; ``TestDatabase/drop()`` drops it, disconnecting anyone still on it.
    ///
    /// - Returns `nil` when the variable is unset outside strict mode, so the caller may skip (through
    ///   ``TestEnvironment/unavailable(_:providedByTestCommand:file:line:)``; see ``requirePostgres()``).
    /// - Throws when the variable is unset in strict mode (``TestEnvironment/isStrict``), or when the server cannot be reached or the
    ///   database cannot be created: a configured PostgreSQL that does not work is a failure, never a skip.
    ///
    /// Blocks (libpq); call it from a test thread, never an event loop.
    public static func postgres() throws -> TestDatabase? {
        let environment = ProcessInfo.processInfo.environment
        guard let serverURI = environment[postgresURLVariable], !serverURI.isEmpty else {
            if TestEnvironment.isStrict {
                throw TestDatabaseUnavailable(
                    description: "\(postgresURLVariable) is not set; strict mode (scripts/test.sh, CI) must run the "
                        + "PostgreSQL tests (run them through scripts/with-postgres.sh)")
            }
            return nil
        }
        let name = "sbtest_" + randomHex(byteCount: 8)
        let admin: PostgresConnection
        do {
            admin = try PostgresConnection(uri: serverURI)
            try admin.executeScript("CREATE DATABASE \(name)")
        } catch {
            throw TestDatabaseUnavailable(
                description: "\(postgresURLVariable) is set but no test database could be created on "
                    + "\(DatabaseURL.redact(serverURI)): \(error)")
        }
        admin.close()
        let uri = replacingDatabaseName(in: serverURI, with: name)
        return TestDatabase(url: try DatabaseURL(parsing: uri)) {
            // Best effort: a server that went away took the database with it.
            guard let admin = try? PostgresConnection(uri: serverURI) else { return }
            try? admin.executeScript("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            admin.close()
        }
    }

    /// `uri` with its database replaced by `database`: the path of a `postgres://` URI (added when absent,
    /// before any `?query`), or a trailing `dbname=` for a `key=value` connection string (the last one wins).
    public static func replacingDatabaseName(in uri: String, with database: String) -> String {
        guard let schemeEnd = uri.range(of: "://") else {
            return uri + " dbname=\(database)"
        }
        let rest = uri[schemeEnd.upperBound...]
        let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
        let pathStart = rest[..<queryStart].firstIndex(of: "/") ?? queryStart
        return String(uri[..<pathStart]) + "/" + database + String(uri[queryStart...])
    }

    private static func randomHex(byteCount: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<byteCount).map { _ in
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }
}
