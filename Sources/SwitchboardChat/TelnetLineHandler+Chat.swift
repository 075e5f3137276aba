import SwitchboardProtocol

extension TelnetLineHandler {
    /// The telnet framing in front of a ``ChatSession``: lines of at most `maximumLineLength` bytes; negotiation
    /// answers and read sizes passed to the session (it sends the answers in order with its output and counts
    /// the bytes); reads not held for writability (the session enforces `--max-sendq` itself).
    public static func chatFraming(maximumLineLength: Int) -> TelnetLineHandler {
        TelnetLineHandler(
            maximumLineLength: maximumLineLength,
            options: .init(passesReplies: true, passesByteCounts: true, holdsReadsWhileUnwritable: false))
    }
}
