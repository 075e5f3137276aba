import NIOCore
import SwitchboardDatabase

/// The `servers` table: every running server registers, beats, and marks itself stopped; start-up repair and
/// the cluster's liveness check read it to tell a live server's rows from a dead one's.
///
/// ```
///  register ──▶ heartbeat every few seconds (ServerHeartbeat, a thread of its own) ──▶ markStopped
///                      │ late by --server-timeout, or markGone (its process is gone)
///                      ▼
///             closeOrphanedConnections closes its open rows (start-up); liveServers leaves it out
/// ```
/// Like ``HistoryRepository`` it owns no connection: each method takes the one it runs on and blocks, so
/// callers run it on a pool thread (or the heartbeat's own). Times come from the database's clock on
/// PostgreSQL, from the caller's on SQLite (one server per file, one host).
public struct ServerRegistry: Sendable {
    public let dialect: SQLDialect
    private let sql: HistorySQL

    public init(dialect: SQLDialect) {
        self.dialect = dialect
        self.sql = HistorySQL.forDialect(dialect)
    }

    /// Closes the rows dead servers left open, as ended at `time` with `reason`, and returns how many: rows
    /// of servers that stopped (a graceful stop that ran out of time) or whose heartbeat is older than
    /// `serverTimeout`, and rows from before servers registered (`server_id` NULL) when no live server
    /// other than `excluding` (the caller) is left to own them. A live server's rows are never touched.
    /// Run at start-up, before any connection of this process is recorded.
    public func closeOrphanedConnections(
        at time: Timestamp, reason: String = "server stopped unexpectedly", serverTimeout: TimeAmount = .seconds(15),
        excluding: Int64? = nil, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> Int {
        let closed = try connection.fetch(sql.closeOrphans, [
            .text(time.iso8601), .text(reason), cutoff(serverTimeout, now: time), .integer(excluding ?? 0),
        ]).rows.count
        // Open rows are never refusals: each is a visit ending now.
        var rollups = HistoryRollups()
        rollups.addDisconnects(Int64(closed), at: time)
        try rollups.write(on: connection, dialect)
        return closed
    }

    /// Registers a starting server; returns its id (the ``HistoryRepository/serverID`` its history is written under). Its `started_at`
    /// and `heartbeat_at` are now: the database's clock on PostgreSQL, `now` on SQLite.
    public func register(
        _ registration: ServerRegistration, at now: Timestamp = .now(), on connection: any DatabaseConnection
    ) throws(DatabaseError) -> Int64 {
        let result = try connection.fetch(sql.registerServer, [
            .text(registration.host), .integer(registration.pid), .text(registration.endpoints),
            .text(registration.version),
        ] + clock(now))
        guard let row = result.firstRow else {
            throw DatabaseError(.decodingFailed, message: "registering the server returned no id", sql: sql.registerServer, column: "id")
        }
        return try row.decode("id")
    }

    /// Refreshes server `id`'s heartbeat. Returns `false` if there is no such running server (its row is gone
    /// or marked stopped).
    @discardableResult
    public func heartbeat(serverID id: Int64, at now: Timestamp = .now(), on connection: any DatabaseConnection) throws(DatabaseError) -> Bool {
        try !connection.fetch(sql.heartbeat, [.integer(id)] + clock(now)).rows.isEmpty
    }

    /// Marks server `id` stopped (a graceful stop).
    public func markStopped(_ id: Int64, at now: Timestamp = .now(), on connection: any DatabaseConnection) throws(DatabaseError) {
        try connection.fetch(sql.markServerStopped, [.integer(id)] + clock(now))
    }

    /// Marks server `id` as known to be gone (its process no longer exists) as of its last heartbeat, so its
    /// rows are repaired without waiting for the heartbeat to age.
    public func markGone(_ id: Int64, on connection: any DatabaseConnection) throws(DatabaseError) {
        try connection.fetch(sql.markServerGone, [.integer(id)])
    }

    /// Servers that have not stopped and whose heartbeat is at most `serverTimeout` old, other than
    /// `excluding`, oldest first.
    public func liveServers(
        serverTimeout: TimeAmount, excluding: Int64? = nil, at now: Timestamp = .now(), on connection: any DatabaseConnection
    ) throws(DatabaseError) -> [ServerRecord] {
        try connection.fetch(sql.liveServers, [cutoff(serverTimeout, now: now), .integer(excluding ?? 0)]).decodeRows {
            row throws(DatabaseError) in
            ServerRecord(
                id: try row.decode("id"), host: try row.decode("host"), pid: try row.decode("pid"),
                endpoints: try row.decode("endpoints"), startedAt: try row.decode("started_at"),
                heartbeatAt: try row.decode("heartbeat_at"))
        }
    }

    /// The time parameter SQLite's server statements take (PostgreSQL uses its own clock: none).
    private func clock(_ now: Timestamp) -> [DatabaseValue] {
        dialect == .sqlite ? [.text(now.iso8601)] : []
    }

    /// The oldest live heartbeat: a time on SQLite, the timeout in seconds on PostgreSQL (subtracted from the
    /// database's clock in the statement).
    private func cutoff(_ timeout: TimeAmount, now: Timestamp) -> DatabaseValue {
        switch dialect {
        case .sqlite:
            return .text(Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch - timeout.nanoseconds / 1_000).iso8601)
        case .postgres:
            return .text(String(Double(timeout.nanoseconds) / 1e9))
        }
    }
}
