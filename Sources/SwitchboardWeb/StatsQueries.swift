import SwitchboardDatabase
import SwitchboardHistory

/// The dashboard's reads of the history, once per dialect, and the arithmetic that turns their rows into a
/// ``StatsSnapshot``.
///
/// Bounded by construction: the connection statements read a time window (24 hours, 30 days) through an
/// index on the time column (migration `stats_indexes`) and return at most one row per minute or day
/// (1 440, 30); lines come from the hourly rollup the history writer keeps (`message_hours`, migration
/// `message_rollups`), at most 720 rows for 30 days. On PostgreSQL the reads also run under a statement
/// timeout (``statementTimeoutMilliseconds``).
///
/// Clients per minute come from a sweep: the clients open at the window's start (open rows, plus rows closed
/// within the window), then +1 per connection and −1 per disconnection in each minute, summed in order.
/// Refused connections are left out everywhere (they are rows, not visits).
struct StatsQueries: Sendable {
    static let minutes = 1_440
    static let days = 30
    static let weekDays = 28
    static let statementTimeoutMilliseconds = 5_000

    let dialect: SQLDialect

    private var notRefused: String { "(close_reason IS NULL OR close_reason NOT LIKE 'refused:%')" }

    /// `column`'s first `length` characters of its ISO 8601 UTC form: minute (16) or day (10) buckets.
    private func bucket(_ column: String, _ length: Int) -> String {
        switch dialect {
        case .sqlite: return "substr(\(column), 1, \(length))"
        case .postgres:
            let format = length == 16 ? "YYYY-MM-DD\"T\"HH24:MI" : "YYYY-MM-DD"
            return "to_char(\(column) AT TIME ZONE 'UTC', '\(format)')"
        }
    }

    /// A bound time parameter (`?N` / `$N::timestamptz`).
    private func time(_ number: Int) -> String {
        dialect == .sqlite ? "?\(number)" : "$\(number)::timestamptz"
    }

    var openAtStart: String {
        """
        SELECT (SELECT count(*) FROM connections WHERE disconnected_at IS NULL AND connected_at < \(time(1)))
             + (SELECT count(*) FROM connections
                WHERE disconnected_at >= \(time(1)) AND connected_at < \(time(1)) AND \(notRefused)) AS n
        """
    }

    var connectsPerMinute: String {
        """
        SELECT \(bucket("connected_at", 16)) AS bucket, count(*) AS n FROM connections
        WHERE connected_at >= \(time(1)) AND connected_at < \(time(2)) AND \(notRefused) GROUP BY 1
        """
    }

    var disconnectsPerMinute: String {
        """
        SELECT \(bucket("disconnected_at", 16)) AS bucket, count(*) AS n FROM connections
        WHERE disconnected_at >= \(time(1)) AND disconnected_at < \(time(2)) AND \(notRefused) GROUP BY 1
        """
    }

    var visitsPerDay: String {
        """
        SELECT \(bucket("connected_at", 10)) AS bucket, count(*) AS n FROM connections
        WHERE connected_at >= \(time(1)) AND connected_at < \(time(2)) AND \(notRefused) GROUP BY 1
        """
    }

    /// Lines per UTC hour, from the rollup the history writer keeps (`message_hours`, keys `2026-12-07T17`):
    /// lines per day and per weekday-hour are summed from these hours.
    var linesPerHour: String {
        let (first, last) = dialect == .sqlite ? ("?1", "?2") : ("$1", "$2")
        return "SELECT hour AS bucket, lines AS n FROM message_hours WHERE hour >= \(first) AND hour <= \(last)"
    }

    /// Reads every series for the windows ending at `now`. Runs on a pool thread, in one transaction (one
    /// consistent view on PostgreSQL).
    func read(now: Timestamp, on connection: any DatabaseConnection) throws(DatabaseError) -> StatsSnapshot {
        let minute: Int64 = 60_000_000
        let day: Int64 = 86_400_000_000
        let now = now.microsecondsSinceEpoch
        let thisMinute = now - ((now % minute) + minute) % minute
        let today = now - ((now % day) + day) % day
        let minuteStart = Timestamp(microsecondsSinceEpoch: thisMinute - Int64(StatsQueries.minutes - 1) * minute)
        let end = Timestamp(microsecondsSinceEpoch: thisMinute + minute)
        let dayStart = Timestamp(microsecondsSinceEpoch: today - Int64(StatsQueries.days - 1) * day)
        let weekStart = Timestamp(microsecondsSinceEpoch: today - Int64(StatsQueries.weekDays - 1) * day)

        if dialect == .postgres {
            _ = try connection.fetch("SET LOCAL statement_timeout = \(StatsQueries.statementTimeoutMilliseconds)", [])
        }
        let window: [DatabaseValue] = [.text(minuteStart.iso8601), .text(end.iso8601)]
        let open = try connection.fetch(openAtStart, [.text(minuteStart.iso8601)]).firstRow?.decode("n", as: Int64.self) ?? 0
        let connects = try buckets(connectsPerMinute, window, on: connection)
        let disconnects = try buckets(disconnectsPerMinute, window, on: connection)
        let days: [DatabaseValue] = [.text(dayStart.iso8601), .text(end.iso8601)]
        let visits = try buckets(visitsPerDay, days, on: connection)
        let hourWindow: [DatabaseValue] = [
            .text(MessageRollups.key(of: dayStart)), .text(MessageRollups.key(of: Timestamp(microsecondsSinceEpoch: now))),
        ]
        let hours = try buckets(linesPerHour, hourWindow, on: connection)
        // Each hour of the 30 days, summed into its day and, in the last 28 days, its weekday-hour cell.
        var lines: [String: Int64] = [:]
        var grid = Array(repeating: Array(repeating: Int64(0), count: 24), count: 7)
        let hour: Int64 = 3_600_000_000
        for start in stride(from: dayStart.microsecondsSinceEpoch, through: now, by: Int(hour)) {
            let time = Timestamp(microsecondsSinceEpoch: start)
            guard let count = hours[MessageRollups.key(of: time)] else { continue }
            lines[String(time.iso8601.prefix(10)), default: 0] += count
            if start >= weekStart.microsecondsSinceEpoch {
                let midnight = start - ((start % day) + day) % day
                // 1970-01-01 was a Thursday: weekday 3 with Monday 0.
                let weekday = ((midnight / day + 3) % 7 + 7) % 7
                grid[Int(weekday)][Int((start - midnight) / hour)] += count
            }
        }

        var clients: [Int64] = []
        clients.reserveCapacity(StatsQueries.minutes)
        var running = open
        for index in 0..<StatsQueries.minutes {
            let label = String(Timestamp(microsecondsSinceEpoch: minuteStart.microsecondsSinceEpoch + Int64(index) * minute).iso8601.prefix(16))
            running += (connects[label] ?? 0) - (disconnects[label] ?? 0)
            clients.append(max(running, 0))
        }
        func perDay(_ counts: [String: Int64]) -> [Int64] {
            (0..<StatsQueries.days).map { index in
                counts[String(Timestamp(microsecondsSinceEpoch: dayStart.microsecondsSinceEpoch + Int64(index) * day).iso8601.prefix(10))] ?? 0
            }
        }
        return StatsSnapshot(
            generatedAt: Timestamp(microsecondsSinceEpoch: now).iso8601,
            clientsPerMinute: .init(start: minuteStart.iso8601, counts: clients),
            visitsPerDay: .init(start: String(dayStart.iso8601.prefix(10)), counts: perDay(visits)),
            linesPerDay: .init(start: String(dayStart.iso8601.prefix(10)), counts: perDay(lines)),
            busiestHours: .init(start: String(weekStart.iso8601.prefix(10)), counts: grid))
    }

    private func buckets(
        _ sql: String, _ binds: [DatabaseValue], on connection: any DatabaseConnection
    ) throws(DatabaseError) -> [String: Int64] {
        var counts: [String: Int64] = [:]
        for (bucket, count) in try connection.fetch(sql, binds).decodeRows({ row throws(DatabaseError) in
            (try row.decode("bucket", as: String.self), try row.decode("n", as: Int64.self))
        }) {
            counts[bucket, default: 0] += count
        }
        return counts
    }
}
