import Foundation
import SwitchboardDatabase

/// One recorded operator action (`moderation_log`): who, what, target, reason, when. Listed by
/// `switchboard moderation`; never holds a password (actions that take one record only that they
/// happened).
public struct ModerationLogEntry: Sendable, Hashable {
    /// The row id (0 before it is written).
    public var id: Int64
    public var at: Timestamp
    /// The operator's name, `admin` for the admin console, or `cli` for the command line.
    public var actor: String
    /// `kick`, `ban`, `unban`, `mute`, `unmute`, `announce`, `motd set`, `motd clear`, `op`, `deop`,
    /// `drop`, `operator add`, `operator remove`, `oper`.
    public var action: String
    /// What it acted on: a nickname, a block (`10.0.0.0/8`), an operator name; empty for none.
    public var target: String
    /// The reason or text given; empty for none.
    public var reason: String

    public init(id: Int64 = 0, at: Timestamp, actor: String, action: String, target: String = "", reason: String = "") {
        self.id = id
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
        self.reason = reason
    }

    /// One JSON object (no newline): `id`, `at` (ISO 8601 UTC), `actor`, `action`, `target`, `reason`.
    public func jsonLine() throws -> String {
        struct Line: Encodable {
            var id: Int64
            var at: String
            var actor: String
            var action: String
            var target: String
            var reason: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(Line(id: id, at: at.iso8601, actor: actor, action: action, target: target, reason: reason))
        return String(decoding: data, as: UTF8.self)
    }
}
