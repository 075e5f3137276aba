import SwitchboardProtocol

/// One NOTIFY payload between servers of a cluster: who sent it, its place in that server's stream, and
/// the chat events of one event loop tick (or part of a roster snapshot). A value; ``ChatCluster`` encodes
/// what its hub did in a tick and decodes what the other servers did.
///
/// The wire form is text (NOTIFY payloads are text, at most 8000 bytes): a header line, then one line per
/// event. Every field but the last is free of spaces; the last runs to the end of the line. Chat text and
/// nicknames never hold CR or LF (the line parser splits on them), so lines cannot be forged from inside.
/// ```
/// sb1 ORIGIN SEQ e                 events of one tick
/// sb1 ORIGIN SEQ s PART PARTS      a roster snapshot, in PARTS payloads (each a J line per member)
/// J MEMBER VISITOR CLAIMED NICK    joined (VISITOR: its history row, 0 if unknown; CLAIMED: when NICK was
///                                  claimed, µs since 1970; ties: lower server)
/// L MEMBER REASON                  left, with the reason others are shown
/// N MEMBER CLAIMED NICK            renamed
/// S MEMBER TEXT                    said
/// M MEMBER TEXT                    /me
/// P MEMBER TO-SERVER TO-MEMBER TEXT  private message
/// W SERVER                         please send your snapshot (SERVER 0: everyone)
/// ```
struct ClusterMessage: Equatable {
    enum Kind: Equatable {
        case events
        /// Part `part` (1-based) of a snapshot in `parts` payloads.
        case snapshot(part: Int, parts: Int)
    }

    let origin: Int64
    let sequence: UInt64
    let kind: Kind
    var events: [ClusterEvent]

    /// The payload limit PostgreSQL enforces is 8000 bytes; the rest is head room.
    static let maximumPayloadBytes = 7_900
    static let magic = "sb1"

    /// The wire form.
    var encoded: String {
        var text: String
        switch kind {
        case .events: text = "\(ClusterMessage.magic) \(origin) \(sequence) e"
        case .snapshot(let part, let parts): text = "\(ClusterMessage.magic) \(origin) \(sequence) s \(part) \(parts)"
        }
        for event in events {
            text += "\n"
            text += event.encoded
        }
        return text
    }

    /// Parses a payload; `nil` when it is not one (another program on the channel, a newer version).
    init?(decoding payload: String) {
        var lines = payload.split(separator: "\n", omittingEmptySubsequences: false)[...]
        guard let header = lines.popFirst() else { return nil }
        let fields = header.split(separator: " ")
        guard fields.count >= 4, fields[0] == ClusterMessage.magic, let origin = Int64(fields[1]),
            let sequence = UInt64(fields[2])
        else { return nil }
        switch fields[3] {
        case "e" where fields.count == 4:
            kind = .events
        case "s" where fields.count == 6:
            guard let part = Int(fields[4]), let parts = Int(fields[5]), part >= 1, part <= parts else { return nil }
            kind = .snapshot(part: part, parts: parts)
        default:
            return nil
        }
        var events: [ClusterEvent] = []
        for line in lines {
            guard let event = ClusterEvent(decoding: line) else { return nil }
            events.append(event)
        }
        self.origin = origin
        self.sequence = sequence
        self.events = events
    }

    init(origin: Int64, sequence: UInt64, kind: Kind, events: [ClusterEvent]) {
        self.origin = origin
        self.sequence = sequence
        self.kind = kind
        self.events = events
    }

    /// Packs `events` into as few payloads as fit the limit, in order; `nextSequence` numbers them. An event
    /// that cannot fit even alone (it cannot happen within `--max-line`'s cluster limit) is dropped and
    /// counted in `oversized`.
    static func pack(
        _ events: [ClusterEvent], origin: Int64, nextSequence: inout UInt64, oversized: inout Int
    ) -> [String] {
        var payloads: [String] = []
        var header = "\(magic) \(origin) \(nextSequence) e"
        var text = header
        var count = 0
        for event in events {
            let line = event.encoded
            if header.utf8.count + 1 + line.utf8.count > maximumPayloadBytes {
                oversized += 1
                continue
            }
            if text.utf8.count + 1 + line.utf8.count > maximumPayloadBytes {
                payloads.append(text)
                nextSequence += 1
                header = "\(magic) \(origin) \(nextSequence) e"
                text = header
                count = 0
            }
            text += "\n"
            text += line
            count += 1
        }
        if count > 0 {
            payloads.append(text)
            nextSequence += 1
        }
        return payloads
    }

    /// A snapshot of `members` (J events) in as many payloads as it takes, numbered from `nextSequence`.
    static func snapshot(_ members: [ClusterEvent], origin: Int64, nextSequence: inout UInt64) -> [String] {
        // Group first (the part count goes in every header), then number.
        var groups: [[String]] = [[]]
        var size = 0
        let headroom = 64  // the header line, at most
        for event in members {
            let line = event.encoded
            if size + 1 + line.utf8.count > maximumPayloadBytes - headroom, !groups[groups.count - 1].isEmpty {
                groups.append([])
                size = 0
            }
            groups[groups.count - 1].append(line)
            size += 1 + line.utf8.count
        }
        var payloads: [String] = []
        for (index, lines) in groups.enumerated() {
            var text = "\(magic) \(origin) \(nextSequence) s \(index + 1) \(groups.count)"
            for line in lines {
                text += "\n"
                text += line
            }
            payloads.append(text)
            nextSequence += 1
        }
        return payloads
    }
}

/// One thing that happened on a server, as the others need to know it. Members are named by their id on
/// their own server (``ConnectionKey``'s raw value); with the origin server that names them cluster-wide.
enum ClusterEvent: Equatable {
    /// `visitor`: the member's history row (0 when not known), so a survivor can name it when it closes it.
    case joined(member: UInt64, visitor: Int64, claimedAt: Int64, nickname: String)
    case left(member: UInt64, reason: String)
    case renamed(member: UInt64, claimedAt: Int64, nickname: String)
    case said(member: UInt64, text: String)
    case acted(member: UInt64, text: String)
    case privateMessage(from: UInt64, toServer: Int64, to: UInt64, text: String)
    /// Asks `server` (0: every server) for its roster snapshot.
    case wantSnapshot(server: Int64)

    var encoded: String {
        switch self {
        case .joined(let member, let visitor, let claimedAt, let nickname): return "J \(member) \(visitor) \(claimedAt) \(nickname)"
        case .left(let member, let reason): return "L \(member) \(reason)"
        case .renamed(let member, let claimedAt, let nickname): return "N \(member) \(claimedAt) \(nickname)"
        case .said(let member, let text): return "S \(member) \(text)"
        case .acted(let member, let text): return "M \(member) \(text)"
        case .privateMessage(let from, let toServer, let to, let text): return "P \(from) \(toServer) \(to) \(text)"
        case .wantSnapshot(let server): return "W \(server)"
        }
    }

    init?(decoding line: Substring) {
        guard let tag = line.first, line.dropFirst().first == " " else { return nil }
        let rest = line.dropFirst(2)
        /// The first `count` space-separated fields, and the rest of the line.
        func split(_ count: Int) -> ([Substring], Substring)? {
            var fields: [Substring] = []
            var remainder = rest
            for _ in 0..<count {
                guard let space = remainder.firstIndex(of: " ") else { return nil }
                fields.append(remainder[..<space])
                remainder = remainder[remainder.index(after: space)...]
            }
            return (fields, remainder)
        }
        switch tag {
        case "J":
            guard let (fields, nickname) = split(3), let member = UInt64(fields[0]), let visitor = Int64(fields[1]),
                let claimedAt = Int64(fields[2]), Nickname.problem(with: String(nickname)) == nil
            else { return nil }
            self = .joined(member: member, visitor: visitor, claimedAt: claimedAt, nickname: String(nickname))
        case "N":
            guard let (fields, nickname) = split(2), let member = UInt64(fields[0]), let claimedAt = Int64(fields[1]),
                Nickname.problem(with: String(nickname)) == nil
            else { return nil }
            self = .renamed(member: member, claimedAt: claimedAt, nickname: String(nickname))
        case "L", "S", "M":
            guard let (fields, text) = split(1), let member = UInt64(fields[0]) else { return nil }
            switch tag {
            case "L": self = .left(member: member, reason: String(text))
            case "S": self = .said(member: member, text: String(text))
            default: self = .acted(member: member, text: String(text))
            }
        case "P":
            guard let (fields, text) = split(3), let from = UInt64(fields[0]), let toServer = Int64(fields[1]),
                let to = UInt64(fields[2])
            else { return nil }
            self = .privateMessage(from: from, toServer: toServer, to: to, text: String(text))
        case "W":
            guard let server = Int64(rest) else { return nil }
            self = .wantSnapshot(server: server)
        default:
            return nil
        }
    }
}
