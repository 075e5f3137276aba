/// Operator or user input that cannot be acted on (a bad duration, a ban of half the internet, a malformed
/// address), with the one line to show: `invalid duration '1x': unknown unit 'x' (use s, m, h, d or w)`.
/// The chat prints it after `! `; the CLI after `switchboard: `.
public struct ModerationInputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The line for the user, without a marker.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
