/// One input line as the chat reads it, before any command runs: text to say, a slash command's name and
/// argument, or nothing. Parsing is pure; what a command does is the chat's (its command table).
///
/// ```
///   hello              → .say("hello")
///   //not a command    → .say("/not a command")        (a doubled slash sends a literal slash)
///   /nick bob          → .command(name: "nick", typed: "nick", argument: "bob")
///   /MSG Bob  Hi there → .command(name: "msg", typed: "MSG", argument: "Bob  Hi there")
///   (blank)            → .empty
/// ```
/// The name is lowercased for lookup and kept as typed for messages; the argument is trimmed of surrounding
/// whitespace and otherwise kept as sent (a tab separates like a space).
public enum ChatLine: Equatable, Sendable {
    case say(String)
    case command(name: String, typed: String, argument: String)
    /// Nothing to do (an empty or blank line).
    case empty

    /// Reads a line that has already been decoded and sanitised.
    public static func parse(_ line: String) -> ChatLine {
        guard line.first == "/" else {
            return line.allSatisfy(\.isWhitespace) ? .empty : .say(line)
        }
        if line.hasPrefix("//") { return .say(String(line.dropFirst())) }
        let body = line.dropFirst()
        let name = body.prefix(while: { !$0.isWhitespace })
        let rest = body.dropFirst(name.count).drop(while: \.isWhitespace)
        let argument = String(rest.reversed().drop(while: \.isWhitespace).reversed())
        return .command(name: name.lowercased(), typed: String(name), argument: argument)
    }
}
