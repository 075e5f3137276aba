/// One payload between servers of a cluster: who sent it, its place in that server's stream, and the chat
/// events of one event loop tick (or part of a roster snapshot). A value; ``ClusterStateMachine`` encodes
/// what its hub did in a tick and decodes what the other servers did.
///
/// The wire form is text: a header line, then one line per event. Every field but the last is free of
/// spaces; the last runs to the end of the line. Chat text and nicknames never hold CR or LF (the line
/// parser splits on them), so lines cannot be forged from inside.
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
///
/// Size: a tick's events are packed into payloads of at most ``inlinePayloadBytes`` (what one NOTIFY carries,
/// ``NotifyTransport/inlinePayloadLimit``), so nearly every payload travels in a NOTIFY of its own; an event
/// that does not fit one alone (a line near `--max-line`'s 65536 bytes) goes in a payload of its own, of any
/// size, which the transport carries through its table.
package struct ClusterMessage: Equatable, Sendable {
    package enum Kind: Equatable, Sendable {
        case events
        /// Part `part` (1-based) of a snapshot in `parts` payloads.
        case snapshot(part: Int, parts: Int)
    }

    package let origin: Int64
    package let sequence: UInt64
    package let kind: Kind
    package var events: [ClusterEvent]

    /// The size events are packed to: what one NOTIFY carries.
    package static let inlinePayloadBytes = NotifyTransport.inlinePayloadLimit
    /// The first field of every payload (its version).
    package static let magic = "sb1"

    /// The start of every payload `origin` sends: `sb1 ORIGIN `, by which a server knows its own echoes
    /// without decoding them.
    package static func prefix(of origin: Int64) -> String { "\(magic) \(origin) " }

    /// The wire form.
    package var encoded: String {
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
    package init?(decoding payload: String) {
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

    package init(origin: Int64, sequence: UInt64, kind: Kind, events: [ClusterEvent]) {
        self.origin = origin
        self.sequence = sequence
        self.kind = kind
        self.events = events
    }

    /// Packs `events` into as few payloads as fit ``inlinePayloadBytes``, in order; `nextSequence` numbers
    /// them. An event that cannot fit one alone goes in a payload of its own, whatever its size.
    package static func pack(
        _ events: [ClusterEvent], origin: Int64, nextSequence: inout UInt64, limit: Int = inlinePayloadBytes
    ) -> [String] {
        var payloads: [String] = []
        var text = ""
        var count = 0
        func close() {
            payloads.append(text)
            nextSequence += 1
            count = 0
        }
        for event in events {
            let line = event.encoded
            if count > 0 && text.utf8.count + 1 + line.utf8.count > limit { close() }
            if count == 0 { text = "\(magic) \(origin) \(nextSequence) e" }
            text += "\n"
            text += line
            count += 1
        }
        if count > 0 { close() }
        return payloads
    }

    /// A snapshot of `members` (J events) in as many payloads of at most `limit` bytes as it takes, numbered
    /// from `nextSequence`. An empty roster is one empty part (it still replaces what the others held).
    package static func snapshot(
        _ members: [ClusterEvent], origin: Int64, nextSequence: inout UInt64, limit: Int = inlinePayloadBytes
    ) -> [String] {
        // Group first (the part count goes in every header), then number.
        var groups: [[String]] = [[]]
        var size = 0
        let headroom = 64  // the header line, at most
        for event in members {
            let line = event.encoded
            if size + 1 + line.utf8.count > limit - headroom, !groups[groups.count - 1].isEmpty {
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
