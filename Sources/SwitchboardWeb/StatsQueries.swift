import SwitchboardDatabase
import SwitchboardHistory

/// The dashboard's reads of the history, once per dialect, and the arithmetic that turns their rows into a
/// ``StatsSnapshot``.
///
/// Bounded by construction: the statements read the rollups kept beside the history (``HistoryRollups``:
/// connections per minute, lines per hour) over a time window, at most one row per minute of the last 24
/// hours or per hour or day of the last 30 days, and count the open rows through a partial index. On
/// PostgreSQL the reads also run under a statement timeout (``statementTimeoutMilliseconds``).
///
/// Clients per minute come from a sweep: the clients open at the window's start, then +1 per connection and
/// −1 per disconnection in each minute, summed in order. Refused connections are left out everywhere (they
/// are rows, not visits).
struct StatsQueries: Sendable {
    static let minutes = 1_440
    static let days = 30
    static let weekDays = 28
    static let statementTimeoutMilliseconds = 5_000

    let dialect: SQLDialect

    private func parameter(_ number: Int) -> String { dialect == .sqlite ? "?\(number)" : "$\(number)" }

    /// The connections open now (through the partial index `connections_open`).
    var openNow: String { "SELECT count(*) AS n FROM connections WHERE disconnected_at IS NULL" }

    /// Connections begun and ended per UTC minute from a minute on (keys `2026-12-07T17:05`), from the rollup
    /// kept beside `connections` (`connection_minutes`): refusals are not in it.
    var connectionsPerMinute: String {
        "SELECT minute, connects, disconnects FROM connection_minutes WHERE minute >= \(parameter(1))"
    }

    /// Connections begun per UTC day, from the same rollup.
    var visitsPerDay: String {
        """
        SELECT substr(minute, 1, 10) AS bucket, sum(connects) AS n FROM connection_minutes
        WHERE minute >= \(parameter(1)) AND minute < \(parameter(2)) GROUP BY 1
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
        // Open at the window's start: open now, plus those that ended since it began, minus those that began
        // since (a row that began before it counts once, whether it is still open or ended within it).
        var open = try connection.fetch(openNow, []).firstRow?.decode("n", as: Int64.self) ?? 0
        var connects: [String: Int64] = [:]
        var disconnects: [String: Int64] = [:]
        let minutes = try connection.fetch(connectionsPerMinute, [.text(HistoryRollups.minuteKey(of: minuteStart))])
        for (minute, began, ended) in try minutes.decodeRows({ row throws(DatabaseError) in
            (try row.decode("minute", as: String.self), try row.decode("connects", as: Int64.self),
             try row.decode("disconnects", as: Int64.self))
        }) {
            connects[minute, default: 0] += began
            disconnects[minute, default: 0] += ended
            open += ended - began
        }
        let days: [DatabaseValue] = [
            .text(HistoryRollups.minuteKey(of: dayStart)), .text(HistoryRollups.minuteKey(of: end)),
        ]
        let visits = try buckets(visitsPerDay, days, on: connection)
        let hourWindow: [DatabaseValue] = [
            .text(HistoryRollups.hourKey(of: dayStart)), .text(HistoryRollups.hourKey(of: Timestamp(microsecondsSinceEpoch: now))),
        ]
        let hours = try buckets(linesPerHour, hourWindow, on: connection)
        // Each hour of the 30 days, summed into its day and, in the last 28 days, its weekday-hour cell.
        var lines: [String: Int64] = [:]
        var grid = Array(repeating: Array(repeating: Int64(0), count: 24), count: 7)
        let hour: Int64 = 3_600_000_000
        for start in stride(from: dayStart.microsecondsSinceEpoch, through: now, by: Int(hour)) {
            let time = Timestamp(microsecondsSinceEpoch: start)
            guard let count = hours[HistoryRollups.hourKey(of: time)] else { continue }
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
