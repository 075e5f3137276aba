import SwitchboardProtocol

/// One thing that happened on a server, as the others need to know it. Members are named by their id on
/// their own server (``ConnectionKey``'s raw value); with the origin server that names them cluster-wide.
package enum ClusterEvent: Equatable, Sendable {
    /// `visitor`: the member's history row (0 when not known), so a survivor can name it when it closes it.
    case joined(member: UInt64, visitor: Int64, claimedAt: Int64, nickname: String)
    case left(member: UInt64, reason: String)
    case renamed(member: UInt64, claimedAt: Int64, nickname: String)
    case said(member: UInt64, text: String)
    case acted(member: UInt64, text: String)
    case privateMessage(from: UInt64, toServer: Int64, to: UInt64, text: String)
    /// Asks `server` (0: every server) for its roster snapshot.
    case wantSnapshot(server: Int64)

    /// The event's line in a payload.
    package var encoded: String {
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

    /// Parses one line of a payload; `nil` when it is not an event (or its nickname is not a valid one).
    package init?(decoding line: Substring) {
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
