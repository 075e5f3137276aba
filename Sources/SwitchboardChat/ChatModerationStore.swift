import NIOCore
import SwitchboardDatabase
import SwitchboardModeration

/// What the hub needs from moderation's storage. ``PoolModerationStore`` is the real one (the database,
/// through the pool); unit tests use an in-memory one.
///
/// Every method is called on the hub's event loop, and every future completes there. Each change is
/// written together with its moderation log entry, in one transaction.
public protocol ChatModerationStore: AnyObject {
    /// Everything the server enforces, as of now.
    func snapshot() -> EventLoopFuture<ModerationSnapshot>
    /// The `moderation_version` counter (it changes whenever the snapshot would).
    func version() -> EventLoopFuture<Int64>
    /// The operator's stored name when `password` is right, else `nil`. Slow on purpose (scrypt).
    func checkOperator(name: String, password: String) -> EventLoopFuture<String?>
    /// Records an action that changes nothing stored (`kick`, `announce`, `op`, `oper`).
    func log(_ entry: ModerationLogEntry) -> EventLoopFuture<Void>
    func setBan(_ ban: Ban, log entry: ModerationLogEntry) -> EventLoopFuture<Void>
    /// `false` when there was no such ban (then nothing is logged).
    func removeBan(_ target: BanTarget, log entry: ModerationLogEntry) -> EventLoopFuture<Bool>
    func setMute(_ mute: Mute, log entry: ModerationLogEntry) -> EventLoopFuture<Void>
    /// `false` when there was no such mute (then nothing is logged).
    func removeMute(nickname: String, log entry: ModerationLogEntry) -> EventLoopFuture<Bool>
    /// Sets (`motd` given) or clears the message of the day.
    func setMOTD(_ motd: MessageOfTheDay?, log entry: ModerationLogEntry) -> EventLoopFuture<Void>
    /// Registers `nickname` with a hash of `password` (1 to ``PasswordHash/maximumPasswordBytes`` bytes);
    /// `false` when it is registered already. Slow on purpose (scrypt).
    func registerNickname(_ nickname: String, password: String) -> EventLoopFuture<Bool>
    /// Whether `password` is `nickname`'s (`false` when it is not registered). Slow on purpose (scrypt).
    func checkNickname(_ nickname: String, password: String) -> EventLoopFuture<Bool>
    /// Removes `nickname`'s registration, logging `entry` when it had one; `false` when it had none.
    func dropNickname(_ nickname: String, log entry: ModerationLogEntry?) -> EventLoopFuture<Bool>
}
