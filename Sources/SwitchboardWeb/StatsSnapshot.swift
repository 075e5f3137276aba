import SwitchboardDatabase

/// The dashboard's numbers read from the history (`/api/stats` without its two live fields), as JSON:
///
/// | field | meaning |
/// |-------|---------|
/// | `generated_at` | when the history was read (ISO 8601 UTC); answers are cached a few seconds |
/// | `clients_per_minute.start` | the first minute's start (ISO 8601 UTC); 1440 minutes, the last is the current one |
/// | `clients_per_minute.counts` | clients connected at the end of each minute (the current one: now), from the `connections` rows |
/// | `visits_per_day.start` | the first day (`YYYY-MM-DD`, UTC); 30 days, the last is today |
/// | `visits_per_day.counts` | accepted connections that began on each day (refusals are not visits) |
/// | `lines_per_day.start`, `.counts` | public lines said (chat and `/me`) each day, same 30 days |
/// | `busiest_hours.start` | the first day of the 4 weeks counted (`YYYY-MM-DD`, UTC; 28 days, today last) |
/// | `busiest_hours.counts` | 7 rows (Monday first) of 24 numbers (UTC hours): lines said in that hour of that weekday |
///
/// `/api/stats` adds `connected_now` (clients connected now, on every server of the chat) and `visits_total`
/// (`/count`'s total), read live at each request.
struct StatsSnapshot: Codable, Equatable, Sendable {
    struct Series: Codable, Equatable, Sendable {
        var start: String
        var counts: [Int64]
    }

    struct Grid: Codable, Equatable, Sendable {
        var start: String
        var counts: [[Int64]]
    }

    var generatedAt: String
    var clientsPerMinute: Series
    var visitsPerDay: Series
    var linesPerDay: Series
    var busiestHours: Grid

    enum CodingKeys: String, CodingKey {
        case generatedAt = "generated_at"
        case clientsPerMinute = "clients_per_minute"
        case visitsPerDay = "visits_per_day"
        case linesPerDay = "lines_per_day"
        case busiestHours = "busiest_hours"
    }
}
