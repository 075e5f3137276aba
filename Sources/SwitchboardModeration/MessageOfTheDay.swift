import SwitchboardDatabase

/// The message of the day: shown to every client after the welcome, set with `/motd set TEXT`.
public struct MessageOfTheDay: Sendable, Hashable {
    /// The text, sanitised, one line.
    public var body: String
    public var setBy: String
    public var setAt: Timestamp

    public init(body: String, setBy: String, setAt: Timestamp) {
        self.body = body
        self.setBy = setBy
        self.setAt = setAt
    }
}
