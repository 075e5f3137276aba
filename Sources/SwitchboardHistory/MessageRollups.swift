import SwitchboardDatabase

/// What a batch of stored chat lines adds to `message_hours` and `nickname_last_said` (migration
/// `message_rollups`): lines per UTC hour, for the dashboard, and each nickname's last line, for `/seen`.
/// Gathered as the batch's lines are written, then added in the same transaction: a row per hour and per
/// nickname in the batch, where two indexes on `messages` cost an entry per line.
///
/// A value: it belongs to whoever writes the batch (``HistoryRepository`` on the history writer's pool thread,
/// or a test seeding history).
package struct MessageRollups: Sendable {
    static let microsecondsPerHour: Int64 = 3_600_000_000

    /// Lines per hour (hours since the epoch), in the order met: a batch's lines mostly share one hour, so
    /// this stays a row or two long without hashing every line.
    private var hours: [(hour: Int64, lines: Int64)] = []
    /// Each nickname's latest line in the batch.
    private var lastSaid: [String: Timestamp] = [:]

    package init() {}

    package var isEmpty: Bool { hours.isEmpty }

    /// Counts a line said by `nickname` at `time`.
    package mutating func add(nickname: String, at time: Timestamp) {
        let hour = Self.hour(of: time)
        if let last = hours.indices.last, hours[last].hour == hour {
            hours[last].lines += 1
        } else {
            hours.append((hour, 1))
        }
        if let previous = lastSaid[nickname], previous > time { return }
        lastSaid[nickname] = time
    }

    /// Adds what was gathered to the tables, inside the caller's transaction, and starts over. On PostgreSQL
    /// the rows are locked in key order (hours, then nicknames as `lower()` folds them: nicknames are ASCII),
    /// so two servers' batches cannot deadlock on them.
    package mutating func write(on connection: any DatabaseConnection, _ dialect: SQLDialect) throws(DatabaseError) {
        defer { self = MessageRollups() }
        guard !isEmpty else { return }
        var perHour: [Int64: Int64] = [:]
        for (hour, lines) in hours { perHour[hour, default: 0] += lines }
        let statements = Statements.forDialect(dialect)
        for (hour, lines) in perHour.sorted(by: { $0.key < $1.key }) {
            try connection.fetch(statements.addLines, [.text(Self.key(ofHour: hour)), .integer(lines)])
        }
        for (nickname, time) in lastSaid.sorted(by: { $0.key.lowercased() < $1.key.lowercased() }) {
            try connection.fetch(statements.recordLastSaid, [.text(nickname), .text(time.iso8601)])
        }
    }

    /// `message_hours.hour` for the hour holding `time`: its ISO 8601 UTC form to the hour (`2026-12-07T17`).
    package static func key(of time: Timestamp) -> String {
        key(ofHour: hour(of: time))
    }

    /// Whole hours since the epoch, rounded down (times before 1970 included).
    private static func hour(of time: Timestamp) -> Int64 {
        let micros = time.microsecondsSinceEpoch
        let hours = micros / microsecondsPerHour
        return micros % microsecondsPerHour < 0 ? hours - 1 : hours
    }

    private static func key(ofHour hour: Int64) -> String {
        String(Timestamp(microsecondsSinceEpoch: hour * microsecondsPerHour).iso8601.prefix(13))
    }

    private struct Statements {
        var addLines: String
        var recordLastSaid: String

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
                """
        )
    }
}
