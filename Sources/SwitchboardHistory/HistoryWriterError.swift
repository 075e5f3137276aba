/// Why a history event did not reach the database.
public enum HistoryWriterError: Error, Sendable {
    /// The queue was full, so the event was dropped.
    case queueFull
    /// The batch holding the event was given up on, or committed without recording it.
    case notRecorded
    /// The server stopped before the event was written; it went to the spool (or was lost without one).
    case stopped
}
