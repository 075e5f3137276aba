import Logging
import NIOCore
import NIOPosix
import SwitchboardDatabase

extension HistoryRepository {
    /// The newest `limit` connection rows, newest first, read without writing anything, for an operator
    /// who may have read access only (`switchboard history`).
    ///
    /// Opens its own connection on a thread of its own (not a ``DatabasePool``, whose connections may
    /// write): SQLite read-only (no journal-mode switch, no checkpoint, the file's bytes untouched),
    /// PostgreSQL in a read-only session with no DDL. Runs no migration; a database without Switchboard's
    /// schema, or with migrations pending, is refused (kind `migrationMismatch`) with a message saying to run
    /// `switchboard migrate` or start the server. An unreachable PostgreSQL is retried for `connectTimeout`.
    public static func readConnections(
        url: DatabaseURL, limit: Int, connectTimeout: TimeAmount, logger: Logger
    ) async throws -> [ConnectionRecord] {
        let repository = HistoryRepository(dialect: url.dialect)
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        defer { thread.shutdownGracefully { _ in } }
        let deadline = NIODeadline.now() + connectTimeout
        var attempt = 0
        while true {
            do {
                return try await thread.runIfActive {
                    let connection = try openReadOnly(url)
                    switch try repository.schemaStatus(on: connection) {
                    case .upToDate:
                        return try repository.connections(limit: limit, on: connection)
                    case .noSchema:
                        throw DatabaseError(
                            .migrationMismatch,
                            message: "database \(url.redacted) has no Switchboard schema yet: "
                                + "run 'switchboard migrate' or start the server")
                    case .pending(let missing):
                        let names = missing.map { "\($0.version) \($0.name)" }.joined(separator: ", ")
                        throw DatabaseError(
                            .migrationMismatch,
                            message: "database \(url.redacted) lacks migration\(missing.count == 1 ? "" : "s") \(names): "
                                + "run 'switchboard migrate' or start the server")
                    }
                }
            } catch let error as DatabaseError
                where error.kind == .connectFailed && url.dialect == .postgres && NIODeadline.now() < deadline
            {
                attempt += 1
                if attempt == 1 {
                    logger.warning(
                        "database not reachable yet, retrying",
                        metadata: ["database": "\(url.redacted)", "error": "\(error.message)"])
                }
                try await Task.sleep(nanoseconds: 250_000_000)
            } catch let error as DatabaseError where error.kind == .connectFailed {
                throw DatabaseError(
                    error.kind, message: "cannot reach \(url.redacted): \(error.message)",
                    sql: error.sql, sqliteCode: error.sqliteCode, sqlState: error.sqlState)
            }
        }
    }

    /// A connection that cannot write: SQLite opened read-only, PostgreSQL in a read-only session.
    /// Blocks; runs on the caller's own thread.
    private static func openReadOnly(_ url: DatabaseURL) throws(DatabaseError) -> any DatabaseConnection {
        switch url {
        case .sqlite(let path):
            return try SQLiteConnection(path: path, readOnly: true)
        case .postgres(let parameters):
            let connection = try PostgresConnection(parameters: parameters)
            try connection.executeScript("SET default_transaction_read_only = on")
            return connection
        }
    }
}
