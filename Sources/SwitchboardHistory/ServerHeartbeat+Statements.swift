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
        let closes: String
        let reopen: String
        let binds: [DatabaseValue]
        switch dialect {
        case .postgres:
            revive = "UPDATE servers SET stopped_at = NULL, heartbeat_at = now() WHERE id = $1 AND stopped_at IS NOT NULL RETURNING id"
            closes = "SELECT to_char(disconnected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS disconnected_at "
                + "FROM connections WHERE \(reopenedRows("$1")) FOR UPDATE"
            reopen = "UPDATE connections SET disconnected_at = NULL, close_reason = NULL WHERE \(reopenedRows("$1")) RETURNING id"
            binds = [.integer(id)]
        case .sqlite:
            revive = "UPDATE servers SET stopped_at = NULL, heartbeat_at = ?2 WHERE id = ?1 AND stopped_at IS NOT NULL RETURNING id"
            closes = "SELECT disconnected_at FROM connections WHERE \(reopenedRows("?1"))"
            reopen = "UPDATE connections SET disconnected_at = NULL, close_reason = NULL WHERE \(reopenedRows("?1")) RETURNING id"
            binds = [.integer(id), .text(now.iso8601)]
        }
        guard try !connection.fetch(revive, binds).rows.isEmpty else { return nil }
        // The closes written on its behalf come out of the rollups (rows locked first, then the rollups).
        var rollups = HistoryRollups()
        let closedAt = try connection.fetch(closes, [.integer(id)]).decodeRows { row throws(DatabaseError) in
            try row.decode("disconnected_at", as: Timestamp.self)
        }
        for time in closedAt { rollups.addDisconnects(-1, at: time) }
        let reopened = try connection.fetch(reopen, [.integer(id)]).rows.count
        try rollups.write(on: connection, dialect)
        return reopened
    }

    /// Server `server`'s rows closed on its behalf: the reasons ClusterRepository.closeLostServer and
    /// ServerRegistry.closeOrphanedConnections write.
    private static func reopenedRows(_ server: String) -> String {
        """
        server_id = \(server) AND disconnected_at IS NOT NULL
          AND close_reason IN ('server lost', 'server stopped unexpectedly')
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
