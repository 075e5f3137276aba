import SwitchboardDatabase

/// Everything a server enforces, read from the database in one transaction: bans, mutes, the MOTD, the
/// registered nicknames, and the `moderation_version` they were read at (a server reloads when the number
/// in the database differs).
public struct ModerationSnapshot: Sendable {
    public var version: Int64
    public var bans: BanList
    /// Active mutes by nickname key.
    public var mutes: [String: Mute]
    public var motd: MessageOfTheDay?
    /// Keys of registered nicknames.
    public var registeredNicknames: Set<String>
    /// Rows that are not ones Switchboard writes (edited by hand: a kind it does not know, a malformed
    /// block or nickname), left out and counted so the caller can say so once.
    public var skippedRows: Int

    public init(
        version: Int64 = 0, bans: BanList = BanList(), mutes: [String: Mute] = [:], motd: MessageOfTheDay? = nil,
        registeredNicknames: Set<String> = [], skippedRows: Int = 0
    ) {
        self.version = version
        self.bans = bans
        self.mutes = mutes
        self.motd = motd
        self.registeredNicknames = registeredNicknames
        self.skippedRows = skippedRows
    }
}
