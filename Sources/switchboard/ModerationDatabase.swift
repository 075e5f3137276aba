import Logging
import SwitchboardDatabase

/// Opens the database for `operator` and `moderation`: a one-thread pool, retried while PostgreSQL starts.
/// `migrating`: apply pending migrations first (commands that write); otherwise a database whose schema is
/// not up to date is refused with the command to run.
enum ModerationDatabase {
    /// Opens the pool, runs `body` on one of its threads, and shuts the pool down however it ends.
    static func run<T: Sendable>(
        _ url: DatabaseURL, migrating: Bool, connectTimeout: Double, logger: Logger,
        _ body: @escaping @Sendable (any DatabaseConnection) throws(DatabaseError) -> T
    ) async throws -> T {
        let pool = try await open(url, migrating: migrating, connectTimeout: connectTimeout, logger: logger)
        do {
            let result = try await pool.withConnection(body)
            try? await pool.shutdown()
            return result
        } catch {
            try? await pool.shutdown()
            throw error
        }
    }

    private static func open(
        _ url: DatabaseURL, migrating: Bool, connectTimeout: Double, logger: Logger
    ) async throws -> DatabasePool {
        let pool = DatabasePool(url: url, numberOfThreads: 1, logger: logger)
        pool.start()
        do {
            try await pool.waitUntilReachable(timeout: .milliseconds(Int64(connectTimeout * 1000)))
            let dialect = url.dialect
            if migrating {
                _ = try await pool.withConnection { connection throws(DatabaseError) in
                    try Migrator(dialect: dialect).migrate(connection)
                }
            } else {
                let status = try await pool.withConnection { connection throws(DatabaseError) in
                    try Migrator(dialect: dialect).status(connection)
                }
                guard status == .upToDate else {
                    throw DatabaseError(
                        .migrationMismatch,
                        message: "database \(url.redacted) lacks Switchboard's current schema: "
                            + "run 'switchboard migrate' or start the server")
                }
            }
            return pool
        } catch {
            try? await pool.shutdown()
            throw error
        }
    }
}
