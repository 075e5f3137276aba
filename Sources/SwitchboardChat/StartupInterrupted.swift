/// Start-up was asked to stop (SIGTERM, SIGINT, task cancellation) while it waited for the database.
/// `switchboard serve` exits with status 130 after saying so in one line.
public struct StartupInterrupted: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "interrupted while waiting for the database" }
}
