/// What a line transport hands the server behind it, in input order: lines, and what the transport needs
/// answered in order with the server's own output. ``TelnetLineHandler`` produces it from telnet bytes; a
/// WebSocket adapter produces it from text frames (one frame, one line).
///
/// ```
///  telnet bytes:  h i \r \n  IAC DO TIMING-MARK  <1025 × x> \n  IAC AYT
///  LineInput:     .received(bytes: n)  .line("hi")  .reply(IAC WILL TIMING-MARK)  .lineTooLong(1024)  .areYouThere
/// ```
public enum LineInput: Equatable, Sendable {
    /// A complete line's content without its terminator: raw bytes (not decoded, not sanitised).
    case line([UInt8])
    /// A line outgrew `maximumLineLength` content bytes; it is being discarded up to its terminator.
    case lineTooLong(maximumLineLength: Int)
    /// The client asked whether the server is there (telnet's `IAC AYT`): it expects a visible answer.
    case areYouThere
    /// Bytes the transport needs sent to the client in order with the server's output (telnet's negotiation
    /// answers), when the transport leaves the writing to the server behind it.
    case reply([UInt8])
    /// This many bytes came from the client (before framing), for traffic counts.
    case received(bytes: Int)
}
