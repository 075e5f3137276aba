/// How long a ban or mute lasts, as operators type it: a number and a unit, optionally several
/// (`90s`, `10m`, `2h`, `7d`, `2w`, `1h30m`). No duration means permanent; that is the caller's choice, not a
/// spelling of this type.
///
/// Refused, each with a one-line reason: a missing unit (`10`), an unknown one (`1x`), a sign (`-1`, `+5m`),
/// zero (`0s`), and anything over ``maximumSeconds`` (`99999999999d`), checked without overflowing.
public struct ModerationDuration: Sendable, Hashable, CustomStringConvertible {
    /// The length in seconds (at least 1).
    public let seconds: Int64

    /// Ten years: longer is a typo, and a permanent ban is spelt by giving no duration.
    public static let maximumSeconds: Int64 = 10 * 365 * 86_400
    static let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]

    public init(seconds: Int64) {
        self.seconds = seconds
    }

    /// Parses `text` (see the type's doc).
    public init(parsing text: String) throws(ModerationInputError) {
        guard !text.isEmpty else { throw ModerationInputError("a duration cannot be empty") }
        if text.first == "-" || text.first == "+" {
            throw ModerationInputError("invalid duration '\(text)': use a number and a unit, like 30m, 2h or 7d")
        }
        var total: Int64 = 0
        var digits: Int64? = nil
        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                let (times10, overflow1) = (digits ?? 0).multipliedReportingOverflow(by: 10)
                let (next, overflow2) = times10.addingReportingOverflow(Int64(digit))
                guard !overflow1, !overflow2, next <= Self.maximumSeconds else { throw Self.tooLong(text) }
                digits = next
            } else if let unit = Self.units[character] {
                guard let amount = digits else {
                    throw ModerationInputError("invalid duration '\(text)': a number must come before '\(character)'")
                }
                let (part, overflow1) = amount.multipliedReportingOverflow(by: unit)
                let (sum, overflow2) = total.addingReportingOverflow(part)
                guard !overflow1, !overflow2, sum <= Self.maximumSeconds else { throw Self.tooLong(text) }
                total = sum
                digits = nil
            } else {
                throw ModerationInputError(
                    "invalid duration '\(text)': unknown unit '\(character)' (use s, m, h, d or w)")
            }
        }
        guard digits == nil else {
            throw ModerationInputError("invalid duration '\(text)': add a unit (s, m, h, d or w), like \(text)m")
        }
        guard total > 0 else { throw ModerationInputError("invalid duration '\(text)': must be longer than 0") }
        seconds = total
    }

    /// Whether `word` is meant as a duration (starts with a digit or a sign), so a command can treat its next
    /// word as a duration (and refuse it when malformed) rather than as the start of a reason.
    public static func looksLikeDuration(_ word: String) -> Bool {
        guard let first = word.first else { return false }
        return first == "-" || first == "+" || (first.isASCII && first.isNumber)
    }

    /// The shortest spelling in the largest units: `2h`, `1h30m`, `7d`.
    public var description: String {
        var rest = seconds
        var text = ""
        for (unit, size) in [("w", Int64(604_800)), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }

    private static func tooLong(_ text: String) -> ModerationInputError {
        ModerationInputError("invalid duration '\(text)': longer than 10 years (leave it out for a permanent ban)")
    }
}
