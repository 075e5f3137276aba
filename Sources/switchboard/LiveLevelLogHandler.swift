import Logging

/// A log handler whose level is the process's ``LiveLogLevel`` (SIGHUP can change it) and whose metadata is
/// its own: what the text and JSON handlers share; each only formats the line.
protocol LiveLevelLogHandler: LogHandler {
    var level: LiveLogLevel { get }
}

extension LiveLevelLogHandler {
    var logLevel: Logger.Level {
        get { level.level }
        set { level.level = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}
