import SwitchboardHistory


/// Renders connection records for `switchboard history`.
enum HistoryFormatter {
    /// One JSON object, keys sorted (see ``ConnectionRecord``'s `Codable` conformance): `id`, `peer`,
    /// `nickname`, `connected_at`, `disconnected_at` (null while open), `close_reason`, `lines_in`,
    /// `lines_out`, `bytes_in`, `bytes_out` (null while open: they are written when the connection
    /// closes); times ISO 8601 UTC.
    static func jsonLine(_ record: ConnectionRecord) throws -> String {
        try record.jsonLine()
    }

    /// Shown for the counters of a connection still open: they are only written when it closes.
    static let unknownCount = "–"

    /// An aligned table with a header, newest first.
    static func table(_ records: [ConnectionRecord]) -> String {
        let header = ["ID", "PEER", "NICKNAME", "CONNECTED (UTC)", "DISCONNECTED (UTC)", "REASON", "LINES IN/OUT", "BYTES IN/OUT"]
        var rows = [header]
        for record in records {
            rows.append([
                String(record.id), record.peer, record.nickname ?? "-", record.connectedAt.displayString,
                record.disconnectedAt?.displayString ?? "(connected)", record.closeReason ?? "-",
                record.countersAreFinal ? "\(record.linesIn)/\(record.linesOut)" : "\(unknownCount)/\(unknownCount)",
                record.countersAreFinal ? "\(record.bytesIn)/\(record.bytesOut)" : "\(unknownCount)/\(unknownCount)",
            ])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        var output = ""
        for row in rows {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }
            output += cells.joined(separator: "  ") + "\n"
        }
        if records.isEmpty { output += "(no connections recorded yet)\n" }
        return output
    }
}
