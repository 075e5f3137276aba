import Logging

/// Log lines in swift-log's `StreamLogHandler` format (people, `grep`, the tests read them), written through
/// a ``LogLineWriter``, at the process's ``LiveLogLevel``:
/// `2026-12-07T03:11:16+0000 notice switchboard: address=127.0.0.1:8000 endpoint=tcp:… [SwitchboardChat] listening`.
struct TextLogHandler: LiveLevelLogHandler {
    let label: String
    let writer: LogLineWriter
    let level: LiveLogLevel
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    func log(event: LogEvent) {
        let all = LogFields.merge(metadata, metadataProvider, event)
        let pairs = all.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        writer.write("\(LogLineWriter.timestamp()) \(event.level) \(label):\(pairs) [\(event.source)] \(event.message)\n")
    }
}
