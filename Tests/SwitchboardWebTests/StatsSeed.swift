import SwitchboardDatabase
import SwitchboardHistory

/// Writes history rows at chosen times, the way the server would have (refusals included), so the dashboard's
/// numbers can be checked against what was put in.
struct StatsSeed {
    let connection: any DatabaseConnection
    let dialect: SQLDialect

    private func time(_ number: Int) -> String { dialect == .sqlite ? "?\(number)" : "$\(number)::timestamptz" }
    private func parameter(_ number: Int) -> String { dialect == .sqlite ? "?\(number)" : "$\(number)" }

    /// A connection row; returns its id.
    @discardableResult
    func connection(
        _ nickname: String?, at connected: Timestamp, until disconnected: Timestamp? = nil, reason: String? = nil
    ) throws(DatabaseError) -> Int64 {
        let sql = """
            INSERT INTO connections (peer, nickname, connected_at, disconnected_at, close_reason)
            VALUES (\(parameter(1)), \(parameter(2)), \(time(3)), \(time(4)), \(parameter(5))) RETURNING id
            """
        let row = try self.connection.fetch(sql, [
            .text("127.0.0.1:1"), nickname.map { .text($0) } ?? .null, .text(connected.iso8601),
            disconnected.map { .text($0.iso8601) } ?? .null, reason.map { .text($0) } ?? .null,
        ]).firstRow
        // Counted in the rollups as the history writer counts it (a refusal is no visit).
        if reason?.hasPrefix("refused:") != true {
            var rollups = HistoryRollups()
            rollups.addConnect(at: connected)
            if let disconnected { rollups.addDisconnects(at: disconnected) }
            try rollups.write(on: self.connection, dialect)
        }
        return try row?.decode("id", as: Int64.self) ?? -1
    }

    /// A public line said by `id`'s client, counted in the rollups as the history writer counts it.
    func line(by id: Int64, _ nickname: String, at time: Timestamp) throws(DatabaseError) {
        let sql = """
            INSERT INTO messages (connection_id, nickname, kind, body, sent_at)
            VALUES (\(parameter(1)), \(parameter(2)), 'say', 'hello', \(self.time(3)))
            """
        _ = try connection.fetch(sql, [.integer(id), .text(nickname), .text(time.iso8601)])
        var rollups = HistoryRollups()
        rollups.addLine(by: nickname, at: time)
        try rollups.write(on: connection, dialect)
    }
}

extension Timestamp {
    /// This time moved by `seconds`.
    func adding(seconds: Int64) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: microsecondsSinceEpoch + seconds * 1_000_000)
    }
}
