import SwitchboardStorage

/// Renders connection records for `switchboard history`.
enum HistoryFormatter {
    /// One JSON object: `id`, `peer`, `nickname`, `connected_at`, `disconnected_at` (null while open),
    /// `close_reason`, `lines_in`, `lines_out`, `bytes_in`, `bytes_out`; times ISO 8601 UTC.
    static func jsonLine(_ record: ConnectionRecord) -> String {
        func string(_ value: String?) -> String { value.map(jsonString) ?? "null" }
        return "{\"id\":\(record.id),\"peer\":\(jsonString(record.peer)),\"nickname\":\(string(record.nickname)),"
            + "\"connected_at\":\(jsonString(record.connectedAt.iso8601)),"
            + "\"disconnected_at\":\(string(record.disconnectedAt?.iso8601)),"
            + "\"close_reason\":\(string(record.closeReason)),"
            + "\"lines_in\":\(record.linesIn),\"lines_out\":\(record.linesOut),"
            + "\"bytes_in\":\(record.bytesIn),\"bytes_out\":\(record.bytesOut)}"
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// An aligned table with a header, newest first.
    static func table(_ records: [ConnectionRecord]) -> String {
        let header = ["ID", "PEER", "NICKNAME", "CONNECTED (UTC)", "DISCONNECTED (UTC)", "REASON", "LINES IN/OUT", "BYTES IN/OUT"]
        var rows = [header]
        for record in records {
            rows.append([
                String(record.id), record.peer, record.nickname ?? "-", record.connectedAt.displayString,
                record.disconnectedAt?.displayString ?? "(connected)", record.closeReason ?? "-",
                "\(record.linesIn)/\(record.linesOut)", "\(record.bytesIn)/\(record.bytesOut)",
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
