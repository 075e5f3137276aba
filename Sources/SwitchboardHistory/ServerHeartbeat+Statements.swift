import SwitchboardDatabase

/// The statements only the heartbeat runs: a rejoin, and the other servers' visit total.
extension ServerHeartbeat {
    /// Makes server `id`'s row live again if another server marked it stopped (it was taken for lost), and
    /// reopens the connection rows that were closed on its behalf meanwhile — by a survivor (`server lost`) or
    /// by a starting server's repair (`server stopped unexpectedly`): the connections are still open here. A
    /// row whose real close was written since has another reason and stays closed; one closed after this
    /// gets its real close as usual. Run it in one transaction. Returns how many rows it reopened, or `nil`
    /// when the row was not marked stopped (or is gone).
    static func rejoin(_ id: Int64, dialect: SQLDialect, at now: Timestamp = .now(), on connection: any DatabaseConnection)
        throws(DatabaseError) -> Int?
    {
        let revive: String
        let reopen: String
        let binds: [DatabaseValue]
        switch dialect {
        case .postgres:
            revive = "UPDATE servers SET stopped_at = NULL, heartbeat_at = now() WHERE id = $1 AND stopped_at IS NOT NULL RETURNING id"
            reopen = reopenSQL("$1")
            binds = [.integer(id)]
        case .sqlite:
            revive = "UPDATE servers SET stopped_at = NULL, heartbeat_at = ?2 WHERE id = ?1 AND stopped_at IS NOT NULL RETURNING id"
            reopen = reopenSQL("?1")
            binds = [.integer(id), .text(now.iso8601)]
        }
        guard try !connection.fetch(revive, binds).rows.isEmpty else { return nil }
        return try connection.fetch(reopen, [.integer(id)]).rows.count
    }

    private static func reopenSQL(_ server: String) -> String {
        // The reasons ClusterRepository.closeLostServer and ServerRegistry.closeOrphanedConnections write.
        """
        UPDATE connections SET disconnected_at = NULL, close_reason = NULL
        WHERE server_id = \(server) AND disconnected_at IS NOT NULL
          AND close_reason IN ('server lost', 'server stopped unexpectedly')
        RETURNING id
        """
    }

    /// The visits recorded for every server but `id` (and for rows from before servers registered). On
    /// PostgreSQL a sum over `server_visits`, one row per server, which a trigger keeps counting as rows are
    /// inserted: cheap however long the history. On SQLite (one server per file) a count of the rows.
    static func visitsElsewhere(_ id: Int64, dialect: SQLDialect, on connection: any DatabaseConnection)
        throws(DatabaseError) -> Int64
    {
        let sql: String
        switch dialect {
        case .postgres:
            sql = "SELECT COALESCE(sum(visits), 0) AS visits FROM server_visits WHERE server_id <> $1"
        case .sqlite:
            sql = """
                SELECT count(*) AS visits FROM connections
                WHERE (server_id IS NULL OR server_id <> ?1) AND (close_reason IS NULL OR close_reason NOT LIKE 'refused:%')
                """
        }
        guard let row = try connection.fetch(sql, [.integer(id)]).firstRow else {
            throw DatabaseError(.decodingFailed, message: "the visit total returned no row", sql: sql, column: "visits")
        }
        return try row.decode("visits")
    }
}
