import SwitchboardDatabase

/// What a write adds to the rollups kept beside the history (migrations `message_rollups` and
/// `connection_rollups`): lines per UTC hour (`message_hours`) and each nickname's last line
/// (`nickname_last_said`), for the dashboard and `/seen`, and connections begun and ended per UTC minute
/// (`connection_minutes`), for the dashboard. Gathered while the rows are written, then added in the same
/// transaction: a row per hour, minute and nickname touched, where indexes on the time and name columns cost
/// an entry per line and two per connection.
///
/// What the rollups hold, and every writer keeps true: `message_hours` counts the `messages` rows by the hour
/// of `sent_at`; `nickname_last_said` holds the latest `sent_at` of each `lower(nickname)`; and
/// `connection_minutes` counts the `connections` rows that are not refusals by the minute of `connected_at`
/// (`connects`) and by the minute of a non-null `disconnected_at` (`disconnects`).
///
/// A value: it belongs to whoever writes (``HistoryRepository`` on the history writer's pool thread, a repair
/// or a rejoin in its transaction, or a test seeding history).
package struct HistoryRollups: Sendable {
    static let microsecondsPerHour: Int64 = 3_600_000_000
    static let microsecondsPerMinute: Int64 = 60_000_000

    /// Lines per hour (hours since the epoch), in the order met: a batch's lines mostly share one hour, so
    /// this stays a row or two long without hashing every line.
    private var hours: [(hour: Int64, lines: Int64)] = []
    /// Each nickname's latest line in the batch.
    private var lastSaid: [String: Timestamp] = [:]
    /// Connections begun and ended per minute (minutes since the epoch), in the order met, as `hours`.
    private var minutes: [(minute: Int64, connects: Int64, disconnects: Int64)] = []

    package init() {}

    package var isEmpty: Bool { hours.isEmpty && minutes.isEmpty }

    /// Counts a line said by `nickname` at `time`.
    package mutating func addLine(by nickname: String, at time: Timestamp) {
        let hour = Self.floor(time, Self.microsecondsPerHour)
        if let last = hours.indices.last, hours[last].hour == hour {
            hours[last].lines += 1
        } else {
            hours.append((hour, 1))
        }
        if let previous = lastSaid[nickname], previous > time { return }
        lastSaid[nickname] = time
    }

    /// Counts a connection row (not a refusal) begun at `time`.
    package mutating func addConnect(at time: Timestamp) { add(at: time, connects: 1, disconnects: 0) }

    /// Counts `count` connection rows (not refusals) whose `disconnected_at` became `time`; a negative count
    /// takes back closes that were undone or rewritten.
    package mutating func addDisconnects(_ count: Int64 = 1, at time: Timestamp) {
        add(at: time, connects: 0, disconnects: count)
    }

    private mutating func add(at time: Timestamp, connects: Int64, disconnects: Int64) {
        let minute = Self.floor(time, Self.microsecondsPerMinute)
        if let last = minutes.indices.last, minutes[last].minute == minute {
            minutes[last].connects += connects
            minutes[last].disconnects += disconnects
        } else {
            minutes.append((minute, connects, disconnects))
        }
    }

    /// Adds what was gathered to the tables, inside the caller's transaction, and starts over. On PostgreSQL
    /// the rows are locked in one order (hours, nicknames as `lower()` folds them — nicknames are ASCII —
    /// then minutes, each ascending), after the history rows a transaction changes, so two servers'
    /// transactions cannot deadlock on them.
    package mutating func write(on connection: any DatabaseConnection, _ dialect: SQLDialect) throws(DatabaseError) {
        defer { self = HistoryRollups() }
        guard !isEmpty else { return }
        let statements = Statements.forDialect(dialect)
        var perHour: [Int64: Int64] = [:]
        for (hour, lines) in hours { perHour[hour, default: 0] += lines }
        for (hour, lines) in perHour.sorted(by: { $0.key < $1.key }) {
            try connection.fetch(statements.addLines, [.text(Self.key(hour, Self.microsecondsPerHour)), .integer(lines)])
        }
        for (nickname, time) in lastSaid.sorted(by: { $0.key.lowercased() < $1.key.lowercased() }) {
            try connection.fetch(statements.recordLastSaid, [.text(nickname), .text(time.iso8601)])
        }
        var perMinute: [Int64: (connects: Int64, disconnects: Int64)] = [:]
        for (minute, connects, disconnects) in minutes {
            perMinute[minute, default: (0, 0)].connects += connects
            perMinute[minute, default: (0, 0)].disconnects += disconnects
        }
        for (minute, counts) in perMinute.sorted(by: { $0.key < $1.key }) where counts != (0, 0) {
            try connection.fetch(statements.addConnections, [
                .text(Self.key(minute, Self.microsecondsPerMinute)), .integer(counts.connects), .integer(counts.disconnects),
            ])
        }
    }

    /// `message_hours.hour` for the hour holding `time`: its ISO 8601 UTC form to the hour (`2026-12-07T17`).
    package static func hourKey(of time: Timestamp) -> String {
        key(floor(time, microsecondsPerHour), microsecondsPerHour)
    }

    /// `connection_minutes.minute` for the minute holding `time` (`2026-12-07T17:05`).
    package static func minuteKey(of time: Timestamp) -> String {
        key(floor(time, microsecondsPerMinute), microsecondsPerMinute)
    }

    private static func key(_ units: Int64, _ unit: Int64) -> String {
        String(Timestamp(microsecondsSinceEpoch: units * unit).iso8601.prefix(unit == microsecondsPerHour ? 13 : 16))
    }

    /// Whole `unit`s since the epoch, rounded down (times before 1970 included).
    private static func floor(_ time: Timestamp, _ unit: Int64) -> Int64 {
        let micros = time.microsecondsSinceEpoch
        let units = micros / unit
        return micros % unit < 0 ? units - 1 : units
    }

    private struct Statements {
        var addLines: String
        var recordLastSaid: String
        var addConnections: String

        static func forDialect(_ dialect: SQLDialect) -> Statements {
            switch dialect {
            case .sqlite: return sqlite
            case .postgres: return postgres
            }
        }

        static let sqlite = Statements(
            addLines: """
                INSERT INTO message_hours (hour, lines) VALUES (?1, ?2)
                ON CONFLICT (hour) DO UPDATE SET lines = lines + excluded.lines
                """,
            recordLastSaid: """
                INSERT INTO nickname_last_said (nickname_key, nickname, said_at) VALUES (lower(?1), ?1, ?2)
                ON CONFLICT (nickname_key) DO UPDATE SET nickname = excluded.nickname, said_at = excluded.said_at
                WHERE excluded.said_at >= nickname_last_said.said_at
                """,
            addConnections: """
                INSERT INTO connection_minutes (minute, connects, disconnects) VALUES (?1, ?2, ?3)
                ON CONFLICT (minute) DO UPDATE SET connects = connects + excluded.connects,
                    disconnects = disconnects + excluded.disconnects
                """
        )

        static let postgres = Statements(
            addLines: """
                INSERT INTO message_hours (hour, lines) VALUES ($1, $2)
                ON CONFLICT (hour) DO UPDATE SET lines = message_hours.lines + excluded.lines
                """,
            recordLastSaid: """
                INSERT INTO nickname_last_said (nickname_key, nickname, said_at) VALUES (lower($1), $1, $2)
                ON CONFLICT (nickname_key) DO UPDATE SET nickname = excluded.nickname, said_at = excluded.said_at
                WHERE excluded.said_at >= nickname_last_said.said_at
                """,
            addConnections: """
                INSERT INTO connection_minutes (minute, connects, disconnects) VALUES ($1, $2, $3)
                ON CONFLICT (minute) DO UPDATE SET connects = connection_minutes.connects + excluded.connects,
                    disconnects = connection_minutes.disconnects + excluded.disconnects
                """
        )
    }
}
