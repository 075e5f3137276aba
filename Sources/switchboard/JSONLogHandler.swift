import Logging
import SwitchboardDatabase

/// One JSON object per log line (`--log-format json`), for log shippers:
/// ```
/// {"time":"2026-12-07T03:11:16.787123Z","level":"info","label":"switchboard","source":"SwitchboardChat",
///  "message":"connection closed","metadata":{"conn":"42","peer":"203.0.113.7:51234","nick":"alice",…}}
/// ```
/// (one line in the output). `time` is UTC with microseconds; metadata values are strings, arrays or
/// objects as logged. Written through a ``LogLineWriter``, at the process's ``LiveLogLevel``.
struct JSONLogHandler: LiveLevelLogHandler {
    let label: String
    let writer: LogLineWriter
    let level: LiveLogLevel
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    func log(event: LogEvent) {
        let all = LogFields.merge(metadata, metadataProvider, event)
        var line = "{\"time\":"
        JSONLogHandler.append(string: Timestamp.now().iso8601, to: &line)
        line += ",\"level\":"
        JSONLogHandler.append(string: event.level.rawValue, to: &line)
        line += ",\"label\":"
        JSONLogHandler.append(string: label, to: &line)
        line += ",\"source\":"
        JSONLogHandler.append(string: event.source, to: &line)
        line += ",\"message\":"
        JSONLogHandler.append(string: event.message.description, to: &line)
        if !all.isEmpty {
            line += ",\"metadata\":"
            JSONLogHandler.append(.dictionary(all), to: &line)
        }
        line += "}\n"
        writer.write(line)
    }

    static func append(_ value: Logger.MetadataValue, to line: inout String) {
        switch value {
        case .string(let text): append(string: text, to: &line)
        case .stringConvertible(let convertible): append(string: convertible.description, to: &line)
        case .array(let values):
            line += "["
            for (index, value) in values.enumerated() {
                if index > 0 { line += "," }
                append(value, to: &line)
            }
            line += "]"
        case .dictionary(let values):
            line += "{"
            for (index, (key, value)) in values.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line += "," }
                append(string: key, to: &line)
                line += ":"
                append(value, to: &line)
            }
            line += "}"
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped; everything else as UTF-8.
    static func append(string text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    let hex = String(scalar.value, radix: 16)
                    line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    line.unicodeScalars.append(scalar)
                }
            }
        }
        line += "\""
    }
}
