/// The statements history needs, once per dialect (``HistoryRepository`` runs them). Parameters are `?N`
/// (SQLite) or `$N` (PostgreSQL) with the same numbering in both; times are bound and read as ISO 8601 UTC
/// text. Every result column has the same name in both dialects (computed ones an `AS` name), because rows
/// are read by column name.
struct HistorySQL: Sendable {
    var reserveVisitorNumbers: String
    var returnVisitorNumbers: String
    var insertConnection: String
    var insertRefused: String
    var closeConnection: String
    var insertMessage: String
    var recentMessages: String
    var lastSeen: String
    var totalVisits: String
    var closeOrphans: String
    var listConnections: String

    static func forDialect(_ dialect: SQLDialect) -> HistorySQL {
        switch dialect {
        case .sqlite: return .sqlite
        case .postgres: return .postgres
        }
    }

    static let sqlite = HistorySQL(
        reserveVisitorNumbers: "UPDATE visitor_counter SET next_id = next_id + ?1 RETURNING next_id - ?1 AS first",
        returnVisitorNumbers: "UPDATE visitor_counter SET next_id = ?1 WHERE next_id = ?2",
        insertConnection: "INSERT INTO connections (id, peer, nickname, connected_at) VALUES (?1, ?2, ?3, ?4)",
        insertRefused: """
            INSERT INTO connections (id, peer, nickname, connected_at, disconnected_at, close_reason)
            VALUES (?1, ?2, NULL, ?3, ?3, ?4)
            """,
        closeConnection: """
            UPDATE connections SET nickname = COALESCE(?2, nickname), disconnected_at = ?3, close_reason = ?4,
                lines_in = ?5, lines_out = ?6, bytes_in = ?7, bytes_out = ?8
            WHERE id = ?1
            """,
        insertMessage: """
            INSERT INTO messages (connection_id, nickname, kind, body, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)
            """,
        recentMessages: "SELECT nickname, kind, body, sent_at FROM messages ORDER BY id DESC LIMIT ?1",
        lastSeen: """
            SELECT nickname, t AS seen_at FROM (
                SELECT nickname, disconnected_at AS t FROM connections
                WHERE lower(nickname) = lower(?1) AND disconnected_at IS NOT NULL
                UNION ALL
                SELECT nickname, sent_at AS t FROM messages WHERE lower(nickname) = lower(?1))
            ORDER BY t DESC LIMIT 1
            """,
        totalVisits: """
            SELECT count(*) AS visits FROM connections WHERE close_reason IS NULL OR close_reason NOT LIKE 'refused:%'
            """,
        closeOrphans: """
            UPDATE connections SET disconnected_at = ?1, close_reason = ?2 WHERE disconnected_at IS NULL RETURNING id
            """,
        listConnections: """
            SELECT id, peer, nickname, connected_at, disconnected_at, close_reason,
                   lines_in, lines_out, bytes_in, bytes_out
            FROM connections ORDER BY id DESC LIMIT ?1
            """
    )

    /// `timestamptz` rendered as the same ISO 8601 UTC text SQLite stores.
    private static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    }

    static let postgres = HistorySQL(
        reserveVisitorNumbers: "UPDATE visitor_counter SET next_id = next_id + $1 RETURNING next_id - $1 AS first",
        returnVisitorNumbers: "UPDATE visitor_counter SET next_id = $1 WHERE next_id = $2",
        insertConnection: """
            INSERT INTO connections (id, peer, nickname, connected_at) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4)
            """,
        insertRefused: """
            INSERT INTO connections (id, peer, nickname, connected_at, disconnected_at, close_reason)
            OVERRIDING SYSTEM VALUE VALUES ($1, $2, NULL, $3, $3, $4)
            """,
        closeConnection: """
            UPDATE connections SET nickname = COALESCE($2, nickname), disconnected_at = $3, close_reason = $4,
                lines_in = $5, lines_out = $6, bytes_in = $7, bytes_out = $8
            WHERE id = $1
            """,
        insertMessage: """
            INSERT INTO messages (connection_id, nickname, kind, body, sent_at) VALUES ($1, $2, $3, $4, $5)
            """,
        recentMessages: "SELECT nickname, kind, body, \(iso("sent_at")) AS sent_at FROM messages ORDER BY id DESC LIMIT $1",
        lastSeen: """
            SELECT nickname, \(iso("t")) AS seen_at FROM (
                SELECT nickname, disconnected_at AS t FROM connections
                WHERE lower(nickname) = lower($1) AND disconnected_at IS NOT NULL
                UNION ALL
                SELECT nickname, sent_at AS t FROM messages WHERE lower(nickname) = lower($1)) AS seen
            ORDER BY t DESC LIMIT 1
            """,
        totalVisits: """
            SELECT count(*) AS visits FROM connections WHERE close_reason IS NULL OR close_reason NOT LIKE 'refused:%'
            """,
        closeOrphans: """
            UPDATE connections SET disconnected_at = $1, close_reason = $2 WHERE disconnected_at IS NULL RETURNING id
            """,
        listConnections: """
            SELECT id, peer, nickname, \(iso("connected_at")) AS connected_at,
                   \(iso("disconnected_at")) AS disconnected_at, close_reason,
                   lines_in, lines_out, bytes_in, bytes_out
            FROM connections ORDER BY id DESC LIMIT $1
            """
    )
}
