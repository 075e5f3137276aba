import SwitchboardDatabase

/// Identifies one accepted connection inside the server process, before (and after) the database has
/// given it a row id. Allocated by the hub.
public struct ConnectionKey: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "#\(rawValue)" }
}

/// A public chat line's kind: said, or acted with `/me`.
public enum MessageKind: String, Sendable {
    case say
    case me
}

/// How a connection ended, with its traffic counters: what its history row is closed with.
public struct ConnectionSummary: Sendable, Equatable {
    /// The nickname the connection ended with; `nil` when it never had one (it left before its welcome),
    /// which keeps the name the row already has (`guest<id>`).
    public var nickname: String?
    public var closedAt: Timestamp
    public var reason: String
    public var linesIn: Int64
    public var linesOut: Int64
    public var bytesIn: Int64
    public var bytesOut: Int64

    public init(
        nickname: String?, closedAt: Timestamp, reason: String,
        linesIn: Int64, linesOut: Int64, bytesIn: Int64, bytesOut: Int64
    ) {
        self.nickname = nickname
        self.closedAt = closedAt
        self.reason = reason
        self.linesIn = linesIn
        self.linesOut = linesOut
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
    }
}

/// A public line as `/history` shows it.
public struct StoredMessage: Sendable, Equatable {
    public var nickname: String
    public var kind: MessageKind
    public var body: String
    public var sentAt: Timestamp

    public init(nickname: String, kind: MessageKind, body: String, sentAt: Timestamp) {
        self.nickname = nickname
        self.kind = kind
        self.body = body
        self.sentAt = sentAt
    }
}

/// When a nickname was last seen (leaving or speaking), and how it was spelled then: `/seen alice` answers
/// with the stored spelling, `Alice`.
public struct SeenRecord: Sendable, Equatable {
    public var nickname: String
    public var at: Timestamp

    public init(nickname: String, at: Timestamp) {
        self.nickname = nickname
        self.at = at
    }
}

/// One row of the `connections` table, as `switchboard history` lists it.
///
/// The traffic counters are written when the connection closes: while it is open (``disconnectedAt`` is
/// `nil`) they read 0 and mean "not known yet" (see ``countersAreFinal``).
public struct ConnectionRecord: Sendable, Equatable {
    public var id: Int64
    public var peer: String
    public var nickname: String?
    public var connectedAt: Timestamp
    public var disconnectedAt: Timestamp?
    public var closeReason: String?
    public var linesIn: Int64
    public var linesOut: Int64
    public var bytesIn: Int64
    public var bytesOut: Int64

    public init(
        id: Int64, peer: String, nickname: String?, connectedAt: Timestamp, disconnectedAt: Timestamp?,
        closeReason: String?, linesIn: Int64, linesOut: Int64, bytesIn: Int64, bytesOut: Int64
    ) {
        self.id = id
        self.peer = peer
        self.nickname = nickname
        self.connectedAt = connectedAt
        self.disconnectedAt = disconnectedAt
        self.closeReason = closeReason
        self.linesIn = linesIn
        self.linesOut = linesOut
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
    }

    /// Whether the counters hold the connection's traffic: only once it has closed.
    public var countersAreFinal: Bool { disconnectedAt != nil }
}

/// One history write, queued on the hub's event loop until a batch commits it.
enum HistoryEvent: Sendable, Equatable {
    /// `visitor`: the row id reserved for it already (see ``HistoryRepository/reserveVisitorNumbers(_:on:)``);
    /// `nil` reserves one when the row is written.
    case opened(ConnectionKey, peer: String, nickname: String?, at: Timestamp, visitor: Int64? = nil)
    case refused(peer: String, reason: String, at: Timestamp, visitor: Int64? = nil)
    case closed(ConnectionKey, ConnectionSummary)
    case message(ConnectionKey, nickname: String, kind: MessageKind, body: String, at: Timestamp)

    /// The connection this event needs a row id for, if any (`closed` and `message`).
    var referencedKey: ConnectionKey? {
        switch self {
        case .closed(let key, _), .message(let key, _, _, _, _): return key
        case .opened, .refused: return nil
        }
    }

    /// About what the event holds in memory while it waits: its text plus a fixed overhead. The queue's
    /// byte limits count this (a 64 KiB line weighs what it is, not what an average event does).
    var estimatedBytes: Int {
        let overhead = 96
        switch self {
        case .opened(_, let peer, let nickname, _, _):
            return overhead + peer.utf8.count + (nickname?.utf8.count ?? 0)
        case .refused(let peer, let reason, _, _):
            return overhead + peer.utf8.count + reason.utf8.count
        case .closed(_, let summary):
            return overhead + (summary.nickname?.utf8.count ?? 0) + summary.reason.utf8.count
        case .message(_, let nickname, _, let body, _):
            return overhead + nickname.utf8.count + body.utf8.count
        }
    }
}

/// What a server records about itself in the `servers` table when it starts.
public struct ServerRegistration: Sendable, Equatable {
    /// The host name (`gethostname`).
    public var host: String
    /// The process id.
    public var pid: Int64
    /// Where it listens, as configured (`tcp:8000 unix:/run/chat.sock`).
    public var endpoints: String
    /// The Switchboard version.
    public var version: String

    public init(host: String, pid: Int64, endpoints: String, version: String) {
        self.host = host
        self.pid = pid
        self.endpoints = endpoints
        self.version = version
    }
}

/// A row of the `servers` table: a server that registered and has not stopped.
public struct ServerRecord: Sendable, Equatable, CustomStringConvertible {
    public var id: Int64
    public var host: String
    public var pid: Int64
    public var endpoints: String
    public var startedAt: Timestamp
    public var heartbeatAt: Timestamp

    public init(id: Int64, host: String, pid: Int64, endpoints: String, startedAt: Timestamp, heartbeatAt: Timestamp) {
        self.id = id
        self.host = host
        self.pid = pid
        self.endpoints = endpoints
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
    }

    /// `server #3 on host web1, pid 4242, running since 2026-12-02 07:10:00 UTC`
    public var description: String {
        "server #\(id) on host \(host), pid \(pid), running since \(startedAt.displayString) UTC"
    }
}
