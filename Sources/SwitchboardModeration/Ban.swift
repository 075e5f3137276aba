import SwitchboardDatabase

/// One ban: what it holds, why, who set it, when, and until when (`nil`: until lifted).
public struct Ban: Sendable, Hashable, Expiring {
    public var target: BanTarget
    /// The operator's reason, sanitised; empty when none was given.
    public var reason: String
    /// The operator (or `admin` console peer) who set it.
    public var setBy: String
    public var setAt: Timestamp
    /// When it stops holding; `nil` for a permanent ban.
    public var expiresAt: Timestamp?

    public init(target: BanTarget, reason: String, setBy: String, setAt: Timestamp, expiresAt: Timestamp?) {
        self.target = target
        self.reason = reason
        self.setBy = setBy
        self.setAt = setAt
        self.expiresAt = expiresAt
    }


    /// What the banned client sees after `! you are banned ` : `(spamming, until 2026-12-08 10:00:00 UTC)`,
    /// `(no reason given, permanent)`.
    public var refusalDetail: String {
        let why = reason.isEmpty ? "no reason given" : reason
        let until = expiresAt.map { "until \($0.displayString) UTC" } ?? "permanent"
        return "(\(why), \(until))"
    }
}
