import SwitchboardDatabase
import SwitchboardHistory


/// Every line the server says, in one place: the chat contract's wording (README, "The protocol").
///
/// Markers: `<nick> text` chat, `* ` notices, `! ` errors, `*nick* text` private message received,
/// `-> nick: text` private message sent. The session adds CRLF.
enum ChatText {
    static func clients(_ count: Int) -> String { count == 1 ? "1 client connected" : "\(count) clients connected" }

    static func welcome(nickname: String, connected: Int, visitor: Int64?) -> String {
        "* Welcome, \(nickname)! \(clients(connected)) (you are visitor #\(visitor.map(String.init) ?? "unknown")). "
            + "Type /help for commands."
    }
    static func joined(_ nickname: String, connected: Int) -> String { "* \(nickname) joined (\(clients(connected)))" }
    static func left(_ nickname: String, reason: String, connected: Int) -> String {
        "* \(nickname) left (\(reason)) (\(clients(connected)))"
    }
    static func say(_ nickname: String, _ text: String) -> String { "<\(nickname)> \(text)" }
    static func me(_ nickname: String, _ text: String) -> String { "* \(nickname) \(text)" }
    static func renamed(_ old: String, _ new: String) -> String { "* \(old) is now known as \(new)" }
    static func privateReceived(from: String, _ text: String) -> String { "*\(from)* \(text)" }
    static func privateSent(to: String, _ text: String) -> String { "-> \(to): \(text)" }
    static func who(_ names: [String], total: Int) -> String {
        let listed = names.joined(separator: ", ")
        let more = total > names.count ? ", … and \(total - names.count) more" : ""
        return "* \(total) connected: \(listed)\(more)"
    }
    static func count(connected: Int, visits: Int64) -> String {
        "* \(clients(connected)), \(visits) \(visits == 1 ? "visit" : "visits") in total"
    }
    static func historyLine(_ message: StoredMessage) -> String {
        switch message.kind {
        case .say: return "[\(message.sentAt.displayString) UTC] <\(message.nickname)> \(message.body)"
        case .me: return "[\(message.sentAt.displayString) UTC] * \(message.nickname) \(message.body)"
        }
    }
    static let endOfHistory = "* end of history"
    static func online(_ nickname: String) -> String { "* \(nickname) is online now" }
    static func seen(_ nickname: String, at time: Timestamp) -> String {
        "* \(nickname) was last seen \(time.displayString) UTC"
    }
    static func neverSeen(_ nickname: String) -> String { "! never seen \(nickname)" }
    static let shuttingDown = "* server shutting down"
    static let bye = "* bye"
    static let stillHere = "* yes, still here"
    static let idleTimeout = "! idle timeout: disconnected"
    /// Joins and leaves above the notice rate, one line a second. Both counts always show, `0` included, so
    /// the line cannot be mistaken for the notice of someone whose nickname is a number.
    static func batchedNotice(joined: Int, left: Int, connected: Int) -> String {
        "* \(joined) joined, \(left) left (\(clients(connected)))"
    }

    static func lineTooLong(max: Int) -> String { "! line too long (max \(max) bytes)" }
    static func unknownCommand(_ name: String) -> String { "! unknown command /\(name) (try /help)" }
    static func usage(_ text: String) -> String { "! usage: \(text)" }
    static func noSuchNick(_ nickname: String) -> String { "! no such nick: \(nickname)" }
    static func nicknameTaken(_ nickname: String) -> String { "! nickname \(nickname) is already taken" }
    static func alreadyNamed(_ nickname: String) -> String { "! you are already \(nickname)" }
    static func invalidNickname(_ problem: String) -> String { "! \(problem)" }
    static let slowDown = "! slow down"
    static func inputDropped(max: Int) -> String {
        "! too much input at once: later lines were dropped (at most \(max / 1024) KiB can wait)"
    }
    static let historyUnavailable = "! history is unavailable right now; try again later"
    static let historyNotSaved = "! the history is not being saved right now"
    static let serverFull = "! server full"
    static let nickPending = "! your last /nick is still being decided; try again in a moment"
    static let nickUnavailable = "! cannot change nicknames right now (the database is unavailable); try again later"
    static func nameLost(_ old: String, now new: String) -> String {
        "! \(old) was claimed earlier on another server while the servers were apart; you are now \(new)"
    }
    static let lostContact = "* lost contact with the other servers"
    static func backInContact(connected: Int) -> String {
        "* back in contact with the other servers (\(clients(connected)))"
    }
    static let fellBehind = "! this server fell behind the other servers; some of their lines were not shown here (see /history)"
    static let tooManyFromAddress = "! too many connections from your address"
}
