import Logging

/// A log handler whose level is the process's ``LiveLogLevel`` (so `log-level` changes on SIGHUP reach
/// every logger); the lines are written by `output`.
struct LiveLevelLogHandler: LogHandler {
    var output: any LogHandler
    let level: LiveLogLevel

    var logLevel: Logger.Level {
        get { level.level }
        set { level.level = newValue }
    }

    var metadata: Logger.Metadata {
        get { output.metadata }
        set { output.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { output[metadataKey: key] }
        set { output[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        output.log(event: event)
    }
}
