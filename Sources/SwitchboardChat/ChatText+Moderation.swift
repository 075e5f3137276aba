import NIOCore
import SwitchboardDatabase
import SwitchboardModeration

/// The lines of operators, bans, mutes and the MOTD (README, "Moderation").
extension ChatText {
    static let moderationUnavailable = "! moderation is unavailable right now (the database); try again later"
    /// Too many password checks at once, server-wide (``PasswordChecks``).
    static let passwordChecksBusy = "! too many password checks at once; try again in a moment"
    /// What a password command says when it could not be answered: busy checking others', or the database.
    static func passwordCheckFailed(_ error: any Error) -> String {
        error is PasswordChecksBusy ? passwordChecksBusy : moderationUnavailable
    }
    static let operNeedsPrivacy =
        "! /oper sends a password: use TLS, a Unix socket or loopback (the server's --allow-plain-oper allows plain TCP)"
    static func tooManyWrongPasswords(retryIn wait: TimeAmount) -> String {
        "! too many wrong passwords: try again in \(max(1, (wait.nanoseconds + 999_999_999) / 1_000_000_000)) s"
    }
    static let operFailed = "! wrong operator name or password"
    static func nowOperator(_ name: String) -> String { "* you are now an operator (\(name)); /help lists your commands" }
    static func operatorsOnly(_ name: String) -> String { "! /\(name) is for operators (see /oper)" }
    static func onAnotherServer(_ nickname: String) -> String { "! \(nickname) is on another server: ban their address or name there, or use /ban NICK --nick" }
    static func noAddressToBan(_ nickname: String) -> String {
        "! no such nick: \(nickname) (ban an address or CIDR, or add --nick to ban the name)"
    }
    static func refuseOwnAddress(_ target: BanTarget) -> String { "! refusing to ban \(target): it covers your own address" }
    static func kicked(by actor: String, reason: String) -> String {
        reason.isEmpty ? "! kicked by \(actor)" : "! kicked by \(actor) (\(reason))"
    }
    static func didKick(_ nickname: String) -> String { "* kicked \(nickname)" }
    static func youAreBanned(_ detail: String) -> String { "! you are banned \(detail)" }
    static func didBan(_ ban: Ban) -> String {
        "* banned \(ban.target) " + (ban.expiresAt.map { "until \($0.displayString) UTC" } ?? "permanently")
    }
    static func noSuchBan(_ target: BanTarget) -> String { "! no ban on \(target)" }
    static func didUnban(_ target: BanTarget) -> String { "* unbanned \(target)" }
    static func banCount(_ count: Int) -> String { count == 1 ? "* 1 ban:" : "* \(count) bans\(count == 0 ? "" : ":")" }
    static func banLine(_ ban: Ban) -> String {
        "* \(ban.target) by \(ban.setBy) " + (ban.expiresAt.map { "until \($0.displayString) UTC" } ?? "permanent")
            + (ban.reason.isEmpty ? "" : " (\(ban.reason))")
    }
    static let youAreMuted = "! you are muted: your lines reach no one"
    static func didMute(_ nickname: String, _ duration: ModerationDuration?) -> String {
        "* muted \(nickname)" + (duration.map { " for \($0)" } ?? "")
    }
    static func didUnmute(_ nickname: String) -> String { "* unmuted \(nickname)" }
    static func notMuted(_ nickname: String) -> String { "! \(nickname) is not muted" }
    static func whois(
        _ nickname: String, visitor: Int64?, since: Timestamp, server: String, address: String?, isOperator: Bool,
        muted: Bool, identified: Bool
    ) -> String {
        var line = "* \(nickname): visitor #\(visitor.map(String.init) ?? "unknown"), connected since \(since.displayString) UTC, on \(server), \(identified ? "identified" : "not identified")"
        if isOperator { line += ", operator" }
        if muted { line += ", muted" }
        if let address { line += ", from \(address)" }
        return line
    }
    static func whoisRemote(_ nickname: String, server: Int64) -> String { "* \(nickname): on server \(server)" }
    static func announcement(_ text: String, by actor: String) -> String { "* announcement from \(actor): \(text)" }
    static func motd(_ body: String) -> String { "* motd: \(body)" }
    static let motdSet = "* message of the day set"
    static let motdCleared = "* message of the day cleared"
    static func alreadyOperator(_ nickname: String) -> String { "! \(nickname) is an operator already" }
    static func notOperator(_ nickname: String) -> String { "! \(nickname) is not an operator" }
    static func madeOperator(by actor: String) -> String { "* \(actor) made you an operator for this connection; /help lists your commands" }
    static func noLongerOperator(by actor: String) -> String { "* \(actor) took your operator rights" }
    static func didOp(_ nickname: String) -> String { "* \(nickname) is an operator for this connection" }
    static func didDeop(_ nickname: String) -> String { "* \(nickname) is no longer an operator" }
    static func bannedName(_ nickname: String) -> String { "! the nickname \(nickname) is banned" }
}

/// The lines of away, ignore and the bell.
extension ChatText {
    static func nowAway(_ reason: String) -> String { reason.isEmpty ? "* you are away" : "* you are away: \(reason)" }
    static let back = "* you are back"
    static let notAway = "! you are not away"
    static func isAway(_ nickname: String, _ reason: String) -> String {
        reason.isEmpty ? "* \(nickname) is away" : "* \(nickname) is away: \(reason)"
    }
    static let ignoringNobody = "* you ignore nobody"
    static func ignoring(_ keys: [String]) -> String { "* you ignore: " + keys.joined(separator: ", ") }
    static let cannotIgnoreYourself = "! you cannot ignore yourself"
    static func ignoringTooMany(_ maximum: Int) -> String { "! you ignore \(maximum) nicknames already (the most)" }
    static func nowIgnoring(_ nickname: String) -> String { "* ignoring \(nickname): their lines and messages no longer reach you" }
    static func notIgnoring(_ nickname: String) -> String { "! you do not ignore \(nickname)" }
    static func noLongerIgnoring(_ nickname: String) -> String { "* no longer ignoring \(nickname)" }
    static let bellOn = "* the bell rings when a line mentions you"
    static let bellOff = "* no bell"
}

/// The lines of owned nicknames.
extension ChatText {
    static let registerGuest = "! pick a nickname first (/nick NAME), then /register PASSWORD"
    static let passwordTooLong = "! that password is too long (at most \(PasswordHash.maximumPasswordBytes) bytes)"
    static func registeredAlready(_ nickname: String) -> String {
        "! \(nickname) is registered already (/identify PASSWORD if it is yours)"
    }
    static func registered(_ nickname: String) -> String {
        "* \(nickname) is registered to you: /identify PASSWORD (or /nick \(nickname) PASSWORD) claims it from now on"
    }
    static func notRegistered(_ nickname: String) -> String { "! \(nickname) is not registered" }
    static func wrongNicknamePassword(_ nickname: String) -> String { "! wrong password for \(nickname)" }
    static func identified(_ nickname: String) -> String { "* you are identified as \(nickname)" }
    static func identifyWithin(_ nickname: String, seconds: Int64) -> String {
        "! \(nickname) is registered: /identify PASSWORD within \(seconds) s, or you will be renamed"
    }
    static func didNotIdentify(_ nickname: String) -> String { "! \(nickname) is registered and you did not identify:" }
    static func nameReclaimed(_ nickname: String) -> String { "! \(nickname)'s owner identified and took it back:" }
    static let dropOthersOperatorsOnly = "! /drop NICK is for operators; /drop alone drops your own nickname"
    static func identifyToDrop(_ nickname: String) -> String { "! /identify as \(nickname) first, then /drop" }
    static func dropped(_ nickname: String) -> String { "* \(nickname) is no longer registered" }
}
