import SwitchboardHistory


/// A SQLite database that another live server (fresh heartbeat, not stopped) already uses: start-up is
/// refused, in one line naming that server, because one SQLite file serves one server.
public struct DatabaseInUse: Error, CustomStringConvertible {
    /// The database, redacted for display.
    public var database: String
    /// The server using it.
    public var other: ServerRecord

    public var description: String {
        "cannot start: \(database) is in use by another server (host \(other.host), pid \(other.pid), "
            + "running since \(other.startedAt.displayString) UTC); a SQLite database serves one server, "
            + "several servers need PostgreSQL"
    }
}

/// The version recorded in the `servers` table.
public enum SwitchboardVersion {
    public static let current = "0.1.0"
}
