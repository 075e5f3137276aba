import SwitchboardDatabase

/// An operator account as `switchboard operator list` shows it. The password hash stays in the database
/// layer: nothing that lists accounts ever holds it.
public struct OperatorAccount: Sendable, Hashable {
    public var name: String
    public var createdAt: Timestamp

    public init(name: String, createdAt: Timestamp) {
        self.name = name
        self.createdAt = createdAt
    }
}
