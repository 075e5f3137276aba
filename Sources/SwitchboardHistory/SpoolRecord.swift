import Foundation
import SwitchboardDatabase

/// One line of a spool file: a history event with its place in its server's order, as JSON.
///
/// ```
/// {"spool":1,"database":"3f0c…","server":7}                                          ← the header line
/// {"seq":41,"type":"message","key":12,"row":1205,"nick":"alice","kind":"say","body":"hi","at":1764…}
/// {"seq":42,"type":"closed","key":12,"row":1205,"reason":"quit","closedAt":1764…,"linesIn":3,…}
/// ```
/// Times are microseconds since the epoch; `row` is the connection's row id when the writer knew it.
struct SpoolRecord: Codable, Equatable {
    enum Kind: String, Codable {
        case opened, refused, closed, message
    }

    var seq: UInt64
    var type: Kind
    var key: UInt64?
    var row: Int64?
    var peer: String?
    var nick: String?
    var at: Int64?
    var visitor: Int64?
    var reason: String?
    var kind: String?
    var body: String?
    var closedAt: Int64?
    var linesIn: Int64?
    var linesOut: Int64?
    var bytesIn: Int64?
    var bytesOut: Int64?

    init(_ spooled: HistoryWriteStateMachine.SpooledEvent) {
        seq = spooled.sequence
        row = spooled.rowID
        switch spooled.event {
        case .opened(let key, let peer, let nickname, let time, let visitor):
            type = .opened
            self.key = key.rawValue
            self.peer = peer
            nick = nickname
            at = time.microsecondsSinceEpoch
            self.visitor = visitor
        case .refused(let peer, let reason, let time, let visitor):
            type = .refused
            self.peer = peer
            self.reason = reason
            at = time.microsecondsSinceEpoch
            self.visitor = visitor
        case .closed(let key, let summary):
            type = .closed
            self.key = key.rawValue
            nick = summary.nickname
            reason = summary.reason
            closedAt = summary.closedAt.microsecondsSinceEpoch
            linesIn = summary.linesIn
            linesOut = summary.linesOut
            bytesIn = summary.bytesIn
            bytesOut = summary.bytesOut
        case .message(let key, let nickname, let kind, let body, let time):
            type = .message
            self.key = key.rawValue
            nick = nickname
            self.kind = kind.rawValue
            self.body = body
            at = time.microsecondsSinceEpoch
        }
    }

    /// The event back, or `nil` when a field it needs is missing (a damaged line).
    var spooled: HistoryWriteStateMachine.SpooledEvent? {
        let event: HistoryEvent
        switch type {
        case .opened:
            guard let key, let peer, let at else { return nil }
            event = .opened(ConnectionKey(key), peer: peer, nickname: nick, at: Timestamp(microsecondsSinceEpoch: at), visitor: visitor)
        case .refused:
            guard let peer, let reason, let at else { return nil }
            event = .refused(peer: peer, reason: reason, at: Timestamp(microsecondsSinceEpoch: at), visitor: visitor)
        case .closed:
            guard let key, let reason, let closedAt else { return nil }
            event = .closed(ConnectionKey(key), ConnectionSummary(
                nickname: nick, closedAt: Timestamp(microsecondsSinceEpoch: closedAt), reason: reason,
                linesIn: linesIn ?? 0, linesOut: linesOut ?? 0, bytesIn: bytesIn ?? 0, bytesOut: bytesOut ?? 0))
        case .message:
            guard let key, let nick, let kind = kind.flatMap(MessageKind.init(rawValue:)), let body, let at else { return nil }
            event = .message(ConnectionKey(key), nickname: nick, kind: kind, body: body, at: Timestamp(microsecondsSinceEpoch: at))
        }
        return HistoryWriteStateMachine.SpooledEvent(sequence: seq, event: event, rowID: row)
    }

    /// The first line of every spool file: which database and which server its events belong to.
    struct Header: Codable, Equatable {
        var spool: Int
        var database: String
        var server: Int64
    }
}
