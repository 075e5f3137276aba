/// The shapes a command's argument takes, parsed purely: what the chat's command table reads its arguments
/// with. Each returns `nil` when the argument does not have that shape (the command then answers with its
/// usage).
public enum CommandArgument {
    /// `/history` with no number shows this many lines.
    public static let defaultHistoryCount = 20
    /// `/history` shows at most this many lines.
    public static let maximumHistoryCount = 200

    /// One word (a nickname, say): not empty, no whitespace inside.
    public static func word(_ argument: String) -> String? {
        argument.isEmpty || argument.contains(where: \.isWhitespace) ? nil : argument
    }

    /// Anything but nothing (an action, a reason).
    public static func text(_ argument: String) -> String? {
        argument.isEmpty ? nil : argument
    }

    /// A target word and the text after it, whose own spacing is kept: `bob  hello world` → (`bob`,
    /// `hello world`).
    public static func targetAndText(_ argument: String) -> (target: String, text: String)? {
        let target = argument.prefix(while: { !$0.isWhitespace })
        let text = argument.dropFirst(target.count).drop(while: \.isWhitespace)
        guard !target.isEmpty, !text.isEmpty else { return nil }
        return (String(target), String(text))
    }

    /// `/history [N]`'s count: the default for nothing; digits only (so `-3` is not a count); out of 1...200,
    /// clamped, with a line (`note`) saying so.
    public static func historyCount(_ argument: String) -> (count: Int, note: String?)? {
        if argument.isEmpty { return (defaultHistoryCount, nil) }
        guard argument.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else { return nil }
        let requested = Int(argument) ?? Int.max  // only digits, so nil means too big for Int
        let count = min(max(requested, 1), maximumHistoryCount)
        let note = count == requested ? nil : "* /history shows 1 to \(maximumHistoryCount) lines; showing \(count)"
        return (count, note)
    }
}
