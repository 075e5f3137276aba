import SwitchboardProtocol

/// `/ban NICK|ADDRESS|CIDR [DURATION] [REASON]` (and `/ban NICK --nick …`) taken apart, purely.
///
/// The first word is an address or block when it parses as one (or contains `:`, `.` or `/`, so a
/// mistyped address is an error rather than a nickname); otherwise a nickname. The next word is a
/// duration when it starts with a digit or a sign (``ModerationDuration/looksLikeDuration(_:)``) — then it
/// must be a valid one; the rest is the reason. `--nick` (anywhere before the reason) also bans the name.
public struct BanRequest: Sendable, Equatable {
    public enum Subject: Sendable, Equatable {
        /// A nickname: its connected holder's address is banned (IPv6: the /64).
        case nickname(String)
        /// An address or block given directly.
        case target(BanTarget)
    }

    public var subject: Subject
    /// Also ban the nickname itself (`--nick`); only with a nickname subject.
    public var includesNickname: Bool
    /// `nil`: permanent.
    public var duration: ModerationDuration?
    /// Empty when none was given.
    public var reason: String

    public static let usage = "/ban NICK|ADDRESS|CIDR [--nick] [DURATION] [REASON]"

    public init(subject: Subject, includesNickname: Bool = false, duration: ModerationDuration? = nil, reason: String = "") {
        self.subject = subject
        self.includesNickname = includesNickname
        self.duration = duration
        self.reason = reason
    }

    /// Parses the argument of `/ban`; the error is the line to show.
    public init(parsing argument: String) throws(ModerationInputError) {
        var words = argument.split(separator: " ", omittingEmptySubsequences: true).map(String.init)[...]
        guard let first = words.popFirst() else { throw ModerationInputError("usage: \(Self.usage)") }
        if first.contains(where: { $0 == ":" || $0 == "." || $0 == "/" }) {
            subject = .target(try BanTarget(parsingAddress: first))
        } else if let problem = Nickname.problem(with: first) {
            throw ModerationInputError(problem)
        } else {
            subject = .nickname(first)
        }
        includesNickname = false
        duration = nil
        while let word = words.first {
            if word == "--nick" {
                guard case .nickname = subject else {
                    throw ModerationInputError("--nick bans a nickname: use it after a NICK, not an address")
                }
                includesNickname = true
            } else if duration == nil, ModerationDuration.looksLikeDuration(word) {
                duration = try ModerationDuration(parsing: word)
            } else {
                break
            }
            words.removeFirst()
        }
        reason = words.joined(separator: " ")
    }
}
