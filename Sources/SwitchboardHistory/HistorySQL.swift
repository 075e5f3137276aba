import SwitchboardDatabase

/// The statements history needs, once per dialect (``HistoryRepository`` runs them). Parameters are `?N`
/// (SQLite) or `$N` (PostgreSQL) with the same numbering in both; times are bound and read as ISO 8601 UTC
/// text. Every result column has the same name in both dialects (computed ones an `AS` name), because rows
/// are read by column name.
package struct HistorySQL: Sendable {
    var reserveVisitorNumbers: String
    var returnVisitorNumbers: String
    var insertConnection: String
    var insertRefused: String
    var insertFinishedConnection: String
    var closeConnection: String
    /// ``closeConnection`` for a row still open (it changes no row when the row was already closed).
    var closeOpenConnection: String
    /// A row's `disconnected_at` and `close_reason` before it is closed again (locked on PostgreSQL).
    var previousClose: String
    var insertMessage: String
    /// Many message rows at once (PostgreSQL: ``PostgresConnection/copyRows(_:_:columns:)``); SQLite has none.
    var copyMessages: String?
    var recentMessages: String
    var lastSeen: String
    var totalVisits: String
    var closeOrphans: String
    var listConnections: String
    var registerServer: String
    var heartbeat: String
    var markServerStopped: String
    var markServerGone: String
    var liveServers: String
    var recordSequence: String
    var historySequence: String
    var databaseIdentity: String

    static func forDialect(_ dialect: SQLDialect) -> HistorySQL {
        switch dialect {
        case .sqlite: return .sqlite
        case .postgres: return .postgres
        }
    }

    static let sqlite = HistorySQL(
        reserveVisitorNumbers: "UPDATE visitor_counter SET next_id = next_id + ?1 RETURNING next_id - ?1 AS first",
        returnVisitorNumbers: "UPDATE visitor_counter SET next_id = ?1 WHERE next_id = ?2",
        insertConnection: "INSERT INTO connections (id, peer, nickname, connected_at, server_id) VALUES (?1, ?2, ?3, ?4, ?5)",
        insertRefused: """
            INSERT INTO connections (id, peer, nickname, connected_at, disconnected_at, close_reason, server_id)
            VALUES (?1, ?2, NULL, ?3, ?3, ?4, ?5)
            """,
        insertFinishedConnection: """
            INSERT INTO connections (id, peer, nickname, connected_at, server_id, disconnected_at, close_reason,
                lines_in, lines_out, bytes_in, bytes_out)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
            """,
        closeConnection: """
            UPDATE connections SET nickname = COALESCE(?2, nickname), disconnected_at = ?3, close_reason = ?4,
                lines_in = ?5, lines_out = ?6, bytes_in = ?7, bytes_out = ?8
            WHERE id = ?1
            """,
        closeOpenConnection: """
            UPDATE connections SET nickname = COALESCE(?2, nickname), disconnected_at = ?3, close_reason = ?4,
                lines_in = ?5, lines_out = ?6, bytes_in = ?7, bytes_out = ?8
            WHERE id = ?1 AND disconnected_at IS NULL
            """,
        previousClose: "SELECT disconnected_at, close_reason FROM connections WHERE id = ?1",
        insertMessage: """
            INSERT INTO messages (connection_id, nickname, kind, body, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)
            """,
        copyMessages: nil,
        recentMessages: "SELECT nickname, kind, body, sent_at FROM messages ORDER BY id DESC LIMIT ?1",
        lastSeen: """
            SELECT nickname, t AS seen_at FROM (
                SELECT nickname, disconnected_at AS t FROM connections
                WHERE lower(nickname) = lower(?1) AND disconnected_at IS NOT NULL
                UNION ALL
                SELECT nickname, said_at AS t FROM nickname_last_said WHERE nickname_key = lower(?1))
            ORDER BY t DESC LIMIT 1
            """,
        totalVisits: """
            SELECT count(*) AS visits FROM connections WHERE close_reason IS NULL OR close_reason NOT LIKE 'refused:%'
            """,
        closeOrphans: """
            UPDATE connections SET disconnected_at = ?1, close_reason = ?2
            WHERE disconnected_at IS NULL AND (
                server_id IN (SELECT id FROM servers WHERE stopped_at IS NOT NULL OR heartbeat_at < ?3)
                OR (server_id IS NULL AND NOT EXISTS (
                    SELECT 1 FROM servers WHERE stopped_at IS NULL AND heartbeat_at >= ?3 AND id <> ?4)))
            RETURNING id
            """,
        listConnections: """
            SELECT id, peer, nickname, connected_at, disconnected_at, close_reason,
                   lines_in, lines_out, bytes_in, bytes_out
            FROM connections ORDER BY id DESC LIMIT ?1
            """,
        // SQLite's times come from the caller's clock (?5 / ?2 / the cutoff): one server per file, one host.
        registerServer: """
            INSERT INTO servers (host, pid, endpoints, version, started_at, heartbeat_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id
            """,
        heartbeat: "UPDATE servers SET heartbeat_at = ?2 WHERE id = ?1 AND stopped_at IS NULL RETURNING id",
        markServerStopped: "UPDATE servers SET stopped_at = ?2, heartbeat_at = ?2 WHERE id = ?1",
        markServerGone: "UPDATE servers SET stopped_at = heartbeat_at WHERE id = ?1 AND stopped_at IS NULL",
        liveServers: """
            SELECT id, host, pid, endpoints, started_at, heartbeat_at FROM servers
            WHERE stopped_at IS NULL AND heartbeat_at >= ?1 AND id <> ?2 ORDER BY id
            """,
        recordSequence: """
            INSERT INTO history_progress (server_id, last_sequence) VALUES (?1, ?2)
            ON CONFLICT (server_id) DO UPDATE SET last_sequence = excluded.last_sequence
            WHERE excluded.last_sequence > history_progress.last_sequence
            """,
        historySequence: "SELECT last_sequence FROM history_progress WHERE server_id = ?1",
        databaseIdentity: "SELECT id FROM database_identity"
    )

    /// `timestamptz` rendered as the same ISO 8601 UTC text SQLite stores.
    private static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    }

    /// The oldest heartbeat still alive: the database's clock minus the timeout in `parameter` (seconds).
    package static func cutoff(_ parameter: String) -> String {
        "now() - \(parameter)::float8 * interval '1 second'"
    }

    static let postgres = HistorySQL(
        reserveVisitorNumbers: "UPDATE visitor_counter SET next_id = next_id + $1 RETURNING next_id - $1 AS first",
        returnVisitorNumbers: "UPDATE visitor_counter SET next_id = $1 WHERE next_id = $2",
        insertConnection: """
            INSERT INTO connections (id, peer, nickname, connected_at, server_id)
            OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5)
            """,
        insertRefused: """
            INSERT INTO connections (id, peer, nickname, connected_at, disconnected_at, close_reason, server_id)
            OVERRIDING SYSTEM VALUE VALUES ($1, $2, NULL, $3, $3, $4, $5)
            """,
        insertFinishedConnection: """
            INSERT INTO connections (id, peer, nickname, connected_at, server_id, disconnected_at, close_reason,
                lines_in, lines_out, bytes_in, bytes_out)
            OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            """,
        closeConnection: """
            UPDATE connections SET nickname = COALESCE($2, nickname), disconnected_at = $3, close_reason = $4,
                lines_in = $5, lines_out = $6, bytes_in = $7, bytes_out = $8
            WHERE id = $1
            """,
        closeOpenConnection: """
            UPDATE connections SET nickname = COALESCE($2, nickname), disconnected_at = $3, close_reason = $4,
                lines_in = $5, lines_out = $6, bytes_in = $7, bytes_out = $8
            WHERE id = $1 AND disconnected_at IS NULL
            """,
        previousClose: """
            SELECT \(iso("disconnected_at")) AS disconnected_at, close_reason FROM connections WHERE id = $1 FOR UPDATE
            """,
        insertMessage: """
            INSERT INTO messages (connection_id, nickname, kind, body, sent_at) VALUES ($1, $2, $3, $4, $5)
            """,
        copyMessages: "COPY messages (connection_id, nickname, kind, body, sent_at) FROM STDIN",
        recentMessages: "SELECT nickname, kind, body, \(iso("sent_at")) AS sent_at FROM messages ORDER BY id DESC LIMIT $1",
        lastSeen: """
            SELECT nickname, \(iso("t")) AS seen_at FROM (
                SELECT nickname, disconnected_at AS t FROM connections
                WHERE lower(nickname) = lower($1) AND disconnected_at IS NOT NULL
                UNION ALL
                SELECT nickname, said_at AS t FROM nickname_last_said WHERE nickname_key = lower($1)) AS seen
            ORDER BY t DESC LIMIT 1
            """,
        // Kept by a trigger as rows are inserted (migration 0005): a handful of rows, not the whole table.
        totalVisits: "SELECT COALESCE(sum(visits), 0) AS visits FROM server_visits",
        closeOrphans: """
            UPDATE connections SET disconnected_at = $1, close_reason = $2
            WHERE disconnected_at IS NULL AND (
                server_id IN (SELECT id FROM servers WHERE stopped_at IS NOT NULL OR heartbeat_at < \(cutoff("$3")))
                OR (server_id IS NULL AND NOT EXISTS (
                    SELECT 1 FROM servers WHERE stopped_at IS NULL AND heartbeat_at >= \(cutoff("$3")) AND id <> $4)))
            RETURNING id
            """,
        listConnections: """
            SELECT id, peer, nickname, \(iso("connected_at")) AS connected_at,
                   \(iso("disconnected_at")) AS disconnected_at, close_reason,
                   lines_in, lines_out, bytes_in, bytes_out
            FROM connections ORDER BY id DESC LIMIT $1
            """,
        // PostgreSQL's times come from the database's clock, so servers on hosts whose clocks differ agree.
        registerServer: """
            INSERT INTO servers (host, pid, endpoints, version, started_at, heartbeat_at)
            VALUES ($1, $2, $3, $4, now(), now()) RETURNING id
            """,
        heartbeat: "UPDATE servers SET heartbeat_at = now() WHERE id = $1 AND stopped_at IS NULL RETURNING id",
        markServerStopped: "UPDATE servers SET stopped_at = now(), heartbeat_at = now() WHERE id = $1",
        markServerGone: "UPDATE servers SET stopped_at = heartbeat_at WHERE id = $1 AND stopped_at IS NULL",
        liveServers: """
            SELECT id, host, pid, endpoints, \(iso("started_at")) AS started_at, \(iso("heartbeat_at")) AS heartbeat_at
            FROM servers WHERE stopped_at IS NULL AND heartbeat_at >= \(cutoff("$1")) AND id <> $2 ORDER BY id
            """,
        recordSequence: """
            INSERT INTO history_progress AS progress (server_id, last_sequence) VALUES ($1, $2)
            ON CONFLICT (server_id) DO UPDATE SET last_sequence = EXCLUDED.last_sequence
            WHERE EXCLUDED.last_sequence > progress.last_sequence
            """,
        // Locked (the row made first if need be), so two replays of one spool (two servers starting at once)
        // take turns, the second seeing what the first committed.
        historySequence: """
            WITH made AS (INSERT INTO history_progress (server_id, last_sequence) VALUES ($1, 0) ON CONFLICT DO NOTHING)
            SELECT last_sequence FROM history_progress WHERE server_id = $1 FOR UPDATE
            """,
        databaseIdentity: "SELECT id FROM database_identity"
    )
}
