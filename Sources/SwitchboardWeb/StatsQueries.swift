import SwitchboardDatabase

/// The dashboard's reads of the history, once per dialect, and the arithmetic that turns their rows into a
/// ``StatsSnapshot``.
///
/// Bounded by construction: every statement reads a time window (24 hours, 30 or 28 days) through an index
/// on the time column (migration `stats_indexes`) and returns at most one row per minute, day or
/// weekday-hour (1 440, 30, 168). On PostgreSQL the reads also run under a statement timeout
/// (``statementTimeoutMilliseconds``).
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

    var linesPerDay: String {
        """
        SELECT \(bucket("sent_at", 10)) AS bucket, count(*) AS n FROM messages
        WHERE sent_at >= \(time(1)) AND sent_at < \(time(2)) GROUP BY 1
        """
    }

    /// Weekday 0 = Monday … 6 = Sunday, hour 0–23, both UTC.
    var linesPerWeekdayHour: String {
        let weekday: String
        let hour: String
        switch dialect {
        case .sqlite:
            weekday = "(CAST(strftime('%w', substr(sent_at, 1, 10)) AS INTEGER) + 6) % 7"
            hour = "CAST(substr(sent_at, 12, 2) AS INTEGER)"
        case .postgres:
            weekday = "CAST(extract(isodow FROM sent_at AT TIME ZONE 'UTC') AS INTEGER) - 1"
            hour = "CAST(extract(hour FROM sent_at AT TIME ZONE 'UTC') AS INTEGER)"
        }
        return """
            SELECT \(weekday) AS weekday, \(hour) AS hour, count(*) AS n FROM messages
            WHERE sent_at >= \(time(1)) AND sent_at < \(time(2)) GROUP BY 1, 2
            """
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
        let lines = try buckets(linesPerDay, days, on: connection)
        var grid = Array(repeating: Array(repeating: Int64(0), count: 24), count: 7)
        let cells = try connection.fetch(linesPerWeekdayHour, [.text(weekStart.iso8601), .text(end.iso8601)])
        for row in try cells.decodeRows({ row throws(DatabaseError) in
            (try row.decode("weekday", as: Int64.self), try row.decode("hour", as: Int64.self), try row.decode("n", as: Int64.self))
        }) where (0..<7).contains(row.0) && (0..<24).contains(row.1) {
            grid[Int(row.0)][Int(row.1)] += row.2
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
