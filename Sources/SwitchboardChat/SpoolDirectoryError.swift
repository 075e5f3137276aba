/// The spool directory (`--spool-dir`) cannot be created or written: start-up stops, naming it.
public struct SpoolDirectoryError: Error, Sendable, CustomStringConvertible {
    public let directory: String
    public let reason: String

    public var description: String {
        "cannot use the history spool directory \(directory) (--spool-dir): \(reason)"
    }
}
