/// One input line, understood: a chat line or a slash command. Parsing is pure; the session acts on it.
///
/// ```
///   hello            → .say("hello")
///   //not a command  → .say("/not a command")     (a doubled slash sends a literal slash)
///   /nick bob        → .nick("bob")
///   /msg bob hi      → .privateMessage(to: "bob", text: "hi")
///   /history 50      → .history(50, note: nil)
///   /history 500     → .history(200, note: "* /history shows 1 to 200 lines; showing 200")
///   /frobnicate      → .unknown("frobnicate")
///   /msg bob         → .usage("/msg NICK TEXT")
///   /nick bob smith  → .usage("/nick NAME (1-32 of A-Z a-z 0-9 _ -)")
/// ```
public enum ChatCommand: Equatable, Sendable {
    case say(String)
    case nick(String)
    case who
    case count
    case me(String)
    case privateMessage(to: String, text: String)
    /// The last N public lines, N in 1...``maximumHistoryCount``. A count outside that range is clamped, and
    /// `note` (else `nil`) is a line saying so, which the session shows before the history.
    case history(Int, note: String?)
    case seen(String)
    case quit(reason: String?)
    case help
    /// Nothing to do (an empty or blank line).
    case empty
    /// A known command with the wrong arguments: the text is its usage.
    case usage(String)
    /// An unknown command (its name, without the slash).
    case unknown(String)

    /// `/history` with no number shows this many lines.
    public static let defaultHistoryCount = 20
    /// `/history` shows at most this many lines.
    public static let maximumHistoryCount = 200

    /// One line per command, for `/help`.
    public static let helpLines: [String] = [
        "/nick NAME        change your nickname (\(Nickname.rule))",
        "/who              list who is connected",
        "/count            how many are connected, and visits in total",
        "/me ACTION        say an action: * you ACTION",
        "/msg NICK TEXT    a private message to NICK",
        "/history [N]      the last N public lines (default \(defaultHistoryCount), max \(maximumHistoryCount))",
        "/seen NICK        when NICK was last here",
        "/quit [REASON]    leave",
        "/help             this list",
        "//text            say a line that starts with /",
    ]

    /// Parses a line that has already been decoded and sanitised.
    public static func parse(_ line: String) -> ChatCommand {
        guard line.first == "/" else {
            return line.allSatisfy(\.isWhitespace) ? .empty : .say(line)
        }
        if line.hasPrefix("//") { return .say(String(line.dropFirst())) }
        let body = line.dropFirst()
        let name = body.prefix(while: { !$0.isWhitespace })
        let rest = body.dropFirst(name.count).drop(while: \.isWhitespace)
        let argument = String(rest.reversed().drop(while: \.isWhitespace).reversed())
        switch name.lowercased() {
        case "nick":
            guard !argument.isEmpty, !argument.contains(where: \.isWhitespace) else {
                return .usage("/nick NAME (\(Nickname.rule))")
            }
            return .nick(argument)
        case "who", "names":
            return .who
        case "count":
            return .count
        case "me":
            guard !argument.isEmpty else { return .usage("/me ACTION") }
            return .me(argument)
        case "msg", "tell":
            let target = argument.prefix(while: { !$0.isWhitespace })
            let text = argument.dropFirst(target.count).drop(while: \.isWhitespace)
            guard !target.isEmpty, !text.isEmpty else { return .usage("/msg NICK TEXT") }
            return .privateMessage(to: String(target), text: String(text))
        case "history":
            return history(argument)
        case "seen":
            guard !argument.isEmpty, !argument.contains(where: \.isWhitespace) else { return .usage("/seen NICK") }
            return .seen(argument)
        case "quit", "exit":
            return .quit(reason: argument.isEmpty ? nil : argument)
        case "help", "?":
            return .help
        default:
            return .unknown(String(name))
        }
    }
}

extension ChatCommand {
    /// `/history [N]`: digits only (so `-3` is a usage error, not a count); out of range, clamped with a note.
    private static func history(_ argument: String) -> ChatCommand {
        if argument.isEmpty { return .history(defaultHistoryCount, note: nil) }
        guard argument.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else {
            return .usage("/history [N] (N from 1 to \(maximumHistoryCount))")
        }
        let requested = Int(argument) ?? Int.max  // only digits, so nil means too big for Int
        let count = min(max(requested, 1), maximumHistoryCount)
        let note = count == requested ? nil : "* /history shows 1 to \(maximumHistoryCount) lines; showing \(count)"
        return .history(count, note: note)
    }
}

/// Nickname rules: 1–32 of `A-Z a-z 0-9 _ -`; uniqueness ignores case (see ``key``).
public enum Nickname {
    public static let maximumLength = 32
    /// What a valid nickname is, in words, for usage lines and problems: `1-32 of A-Z a-z 0-9 _ -`.
    public static let rule = "1-\(maximumLength) of A-Z a-z 0-9 _ -"

    /// `nil` when valid, else a one-line reason for the user.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "a nickname cannot be empty" }
        if name.utf8.count > maximumLength { return "nickname too long (max \(maximumLength) characters)" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x5f || byte == 0x2d
        }
        return allowed ? nil : "invalid nickname '\(name)': use \(rule)"
    }

    /// The form compared for uniqueness: ASCII lowercased.
    public static func key(_ name: String) -> String {
        String(decoding: name.utf8.map { ($0 >= 0x41 && $0 <= 0x5a) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
