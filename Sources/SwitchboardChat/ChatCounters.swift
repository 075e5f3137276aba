/// How a client reached the chat: telnet (the listeners of `--listen`) or another transport handing the
/// same session its lines (the web listener's WebSocket, `SwitchboardWeb`). Shown in the history row's
/// `peer` (`ws:1.2.3.4:5678`) and in the metrics' `transport` label.
public struct ChatTransport: Hashable, Sendable, CustomStringConvertible {
    /// The label (`telnet`, `websocket`): short, lower case, fixed per transport.
    public let name: String
    /// What goes before the address in the history row's `peer` (empty for telnet: `1.2.3.4:5678`).
    public let peerPrefix: String
    /// How the session hands this transport its lines.
    public let framing: Framing

    /// How a session writes the lines it sends to its channel.
    public enum Framing: Hashable, Sendable {
        /// Each line as UTF-8 and CRLF (telnet).
        case crlf
        /// Each line as one WebSocket text frame, final and unmasked, without its CRLF: the bytes a server sends,
        /// for a handler that passes them through (SwitchboardWeb's `WebSocketLineAdapter`), so everything the
        /// session writes is framed. Broadcast lines are framed once per tick for every such recipient
        /// (``TickFrames``).
        case webSocketText
    }

    public init(name: String, peerPrefix: String, framing: Framing = .crlf) {
        self.name = name
        self.peerPrefix = peerPrefix
        self.framing = framing
    }

    public static let telnet = ChatTransport(name: "telnet", peerPrefix: "")
    public var description: String { name }
}

/// What the chat has done since it started, counted where it happens (plain integers on the hub's loop, one
/// add each: the fan-out pays one add per line, not per recipient) and read by the metrics.
///
/// Ownership: the hub's, on its event loop; ``ChatServer/snapshot()`` copies it there.
public struct ChatCounters: Sendable {
    /// Clients joined now, by transport (local ones; other servers' members are not counted here).
    public var connected: [String: Int] = [:]
    /// Connections admitted, by transport.
    public var accepted: [String: Int64] = [:]
    /// Connections refused, by reason (`server_full`, `too_many_from_address`).
    public var refused: [String: Int64] = [:]
    /// Connections closed, by reason (`quit`, `connection_closed`, `idle_timeout`, `send_queue_exceeded`,
    /// `server_shutdown`; a `/quit` with text counts as `quit`).
    public var closed: [String: Int64] = [:]
    /// Whole lines received from clients (over-long ones and flood-dropped ones included).
    public var linesIn: Int64 = 0
    /// Lines queued to clients by broadcasts (one per recipient).
    public var deliveries: Int64 = 0
    /// Bytes read from clients.
    public var bytesIn: Int64 = 0
    /// Bytes handed to clients' sockets.
    public var bytesOut: Int64 = 0
    /// Lines dropped by flood control.
    public var floodDrops: Int64 = 0
    /// Clients disconnected because they did not read (`--max-sendq`).
    public var sendQueueDisconnects: Int64 = 0

    public init() {}

    /// A close reason as a metric label: the words before any `:` (a `/quit`'s text), spaces as `_`.
    /// Works on UTF-8 bytes (a `:` or a space is never part of a longer character), not on `Character`s: it
    /// runs for every connection that closes, and walking graphemes made it a visible part of churn.
    static func label(forReason reason: String) -> String {
        let colon = UInt8(ascii: ":")
        let space = UInt8(ascii: " ")
        guard reason.utf8.contains(where: { $0 == colon || $0 == space }) else { return reason }
        let words = reason.utf8.prefix { $0 != colon }
        return String(decoding: words.map { $0 == space ? UInt8(ascii: "_") : $0 }, as: UTF8.self)
    }
}
