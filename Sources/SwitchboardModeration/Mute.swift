import SwitchboardDatabase

/// One mute: a nickname whose public lines reach no one, until `expiresAt` (`nil`: until lifted).
public struct Mute: Sendable, Hashable, Expiring {
    /// The nickname as the operator named it; matched by its key.
    public var nickname: String
    public var setBy: String
    public var setAt: Timestamp
    public var expiresAt: Timestamp?

    public init(nickname: String, setBy: String, setAt: Timestamp, expiresAt: Timestamp?) {
        self.nickname = nickname
        self.setBy = setBy
        self.setAt = setAt
        self.expiresAt = expiresAt
    }
}
