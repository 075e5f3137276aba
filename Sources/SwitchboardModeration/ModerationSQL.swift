import SwitchboardDatabase

/// The statements moderation runs, once per dialect. Written once with `$N` parameters; SQLite's copy uses
/// `?N` with the same numbers. Times are bound as ISO 8601 UTC text and read back as the same text
/// (PostgreSQL's `timestamptz` columns through `to_char`), so rows decode alike on both.
struct ModerationSQL: Sendable {
    var insertOperator: String
    var operators: String
    var operatorHash: String
    var deleteOperator: String
    var upsertBan: String
    var deleteBan: String
    var bans: String
    var upsertMute: String
    var deleteMute: String
    var mutes: String
    var upsertMOTD: String
    var deleteMOTD: String
    var motd: String
    var insertNickname: String
    var nicknameHash: String
    var deleteNickname: String
    var nicknames: String
    var deleteExpiredBans: String
    var deleteExpiredMutes: String
    var insertLog: String
    var log: String
    var version: String

    static func forDialect(_ dialect: SQLDialect) -> ModerationSQL {
        dialect == .sqlite ? sqlite : postgres
    }

    static let postgres = ModerationSQL(dialect: .postgres)
    static let sqlite = ModerationSQL(dialect: .sqlite)

    private init(dialect: SQLDialect) {
        func time(_ column: String) -> String {
            dialect == .sqlite ? column : "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS \(column)"
        }
        // PostgreSQL infers a parameter's type from its use; a bare `$1` compared with a timestamptz needs the
        // cast to say the text is a time.
        let now = dialect == .sqlite ? "$1" : "$1::timestamptz"
        func sql(_ text: String) -> String {
            guard dialect == .sqlite else { return text }
            var out = ""
            for character in text { out.append(character == "$" ? "?" : character) }
            return out
        }
        insertOperator = sql("""
            INSERT INTO operators (name_key, name, password_hash, created_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (name_key) DO NOTHING RETURNING name_key
            """)
        operators = sql("SELECT name, \(time("created_at")) FROM operators ORDER BY name_key")
        operatorHash = sql("SELECT name, password_hash FROM operators WHERE name_key = $1")
        deleteOperator = sql("DELETE FROM operators WHERE name_key = $1 RETURNING name_key")
        upsertBan = sql("""
            INSERT INTO bans (kind, target, reason, set_by, set_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (kind, target) DO UPDATE SET reason = excluded.reason, set_by = excluded.set_by,
                set_at = excluded.set_at, expires_at = excluded.expires_at
            """)
        deleteBan = sql("DELETE FROM bans WHERE kind = $1 AND target = $2 RETURNING target")
        bans = sql("""
            SELECT kind, target, reason, set_by, \(time("set_at")), \(time("expires_at")) FROM bans
            WHERE expires_at IS NULL OR expires_at > \(now)
            """)
        upsertMute = sql("""
            INSERT INTO mutes (nickname_key, nickname, set_by, set_at, expires_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (nickname_key) DO UPDATE SET nickname = excluded.nickname, set_by = excluded.set_by,
                set_at = excluded.set_at, expires_at = excluded.expires_at
            """)
        deleteMute = sql("DELETE FROM mutes WHERE nickname_key = $1 RETURNING nickname_key")
        mutes = sql("""
            SELECT nickname, set_by, \(time("set_at")), \(time("expires_at")) FROM mutes
            WHERE expires_at IS NULL OR expires_at > \(now)
            """)
        upsertMOTD = sql("""
            INSERT INTO motd (id, body, set_by, set_at) VALUES (1, $1, $2, $3)
            ON CONFLICT (id) DO UPDATE SET body = excluded.body, set_by = excluded.set_by, set_at = excluded.set_at
            """)
        deleteMOTD = "DELETE FROM motd"
        motd = "SELECT body, set_by, \(time("set_at")) FROM motd WHERE id = 1"
        insertNickname = sql("""
            INSERT INTO registered_nicknames (nickname_key, nickname, password_hash, registered_at)
            VALUES ($1, $2, $3, $4) ON CONFLICT (nickname_key) DO NOTHING RETURNING nickname_key
            """)
        nicknameHash = sql("SELECT nickname, password_hash FROM registered_nicknames WHERE nickname_key = $1")
        deleteNickname = sql("DELETE FROM registered_nicknames WHERE nickname_key = $1 RETURNING nickname_key")
        nicknames = "SELECT nickname_key FROM registered_nicknames"
        deleteExpiredBans = sql("DELETE FROM bans WHERE expires_at <= \(now)")
        deleteExpiredMutes = sql("DELETE FROM mutes WHERE expires_at <= \(now)")
        insertLog = sql("""
            INSERT INTO moderation_log (acted_at, actor, action, target, reason) VALUES ($1, $2, $3, $4, $5)
            RETURNING id
            """)
        log = sql("""
            SELECT id, \(time("acted_at")), actor, action, target, reason FROM moderation_log ORDER BY id DESC LIMIT $1
            """)
        version = "SELECT version FROM moderation_version WHERE id = 1"
    }
}
