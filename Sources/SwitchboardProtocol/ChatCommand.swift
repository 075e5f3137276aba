/// One input line, understood: a chat line or a slash command. Parsing is pure; the session acts on it.
///
/// ```
///   hello            → .say("hello")
///   //not a command  → .say("/not a command")     (a doubled slash sends a literal slash)
///   /nick bob        → .nick("bob")
///   /msg bob hi      → .privateMessage(to: "bob", text: "hi")
///   /history 50      → .history(50)
///   /frobnicate      → .unknown("frobnicate")
///   /msg bob         → .usage("/msg NICK TEXT")
/// ```
public enum ChatCommand: Equatable, Sendable {
    case say(String)
    case nick(String)
    case who
    case count
    case me(String)
    case privateMessage(to: String, text: String)
    case history(Int)
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
        "/nick NAME        change your nickname (1-32 of A-Z a-z 0-9 _ -)",
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
            guard !argument.isEmpty, !argument.contains(where: \.isWhitespace) else { return .usage("/nick NAME") }
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
            if argument.isEmpty { return .history(defaultHistoryCount) }
            guard !argument.isEmpty, argument.allSatisfy(\.isASCII), argument.allSatisfy(\.isNumber),
                argument.contains(where: { $0 != "0" })
            else { return .usage("/history [N] (N from 1 to \(maximumHistoryCount))") }
            return .history(min(Int(argument) ?? maximumHistoryCount, maximumHistoryCount))  // huge N: the maximum
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

/// Nickname rules: 1–32 of `A-Z a-z 0-9 _ -`; uniqueness ignores case (see ``key``).
public enum Nickname {
    public static let maximumLength = 32

    /// `nil` when valid, else a one-line reason for the user.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "a nickname cannot be empty" }
        if name.utf8.count > maximumLength { return "nickname too long (max \(maximumLength) characters)" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x5f || byte == 0x2d
        }
        return allowed ? nil : "invalid nickname '\(name)': use 1-\(maximumLength) of A-Z a-z 0-9 _ -"
    }

    /// The form compared for uniqueness: ASCII lowercased.
    public static func key(_ name: String) -> String {
        String(decoding: name.utf8.map { ($0 >= 0x41 && $0 <= 0x5a) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
