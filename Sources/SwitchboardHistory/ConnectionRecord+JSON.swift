import Foundation
import SwitchboardDatabase

/// `switchboard history --json`'s record: one object per connection, keys in snake_case, times ISO 8601
/// UTC, and `null` for what is not known:
///
/// ```
/// {"bytes_in":null,"bytes_out":null,"close_reason":null,"connected_at":"2025-11-25T15:13:59.123456Z",
///  "disconnected_at":null,"id":7,"lines_in":null,"lines_out":null,"nickname":"alice","peer":"[::1]:5000"}
/// ```
///
/// `disconnected_at` is `null` while the connection is open, and so are the four counters: they are
/// written when it closes (see ``ConnectionRecord/countersAreFinal``). Keys are sorted, so every line
/// reads the same way (`JSONEncoder` otherwise writes them in hash order, which changes from run to run).
extension ConnectionRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case id, peer, nickname
        case connectedAt = "connected_at"
        case disconnectedAt = "disconnected_at"
        case closeReason = "close_reason"
        case linesIn = "lines_in"
        case linesOut = "lines_out"
        case bytesIn = "bytes_in"
        case bytesOut = "bytes_out"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(peer, forKey: .peer)
        // `encode` rather than `encodeIfPresent`: an unknown value is written as null, not left out.
        try container.encode(nickname, forKey: .nickname)
        try container.encode(connectedAt.iso8601, forKey: .connectedAt)
        try container.encode(disconnectedAt?.iso8601, forKey: .disconnectedAt)
        try container.encode(closeReason, forKey: .closeReason)
        let final = countersAreFinal
        try container.encode(final ? linesIn : nil, forKey: .linesIn)
        try container.encode(final ? linesOut : nil, forKey: .linesOut)
        try container.encode(final ? bytesIn : nil, forKey: .bytesIn)
        try container.encode(final ? bytesOut : nil, forKey: .bytesOut)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func time(_ key: CodingKeys) throws -> Timestamp? {
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let time = Timestamp(iso8601: text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "not an ISO 8601 UTC time")
            }
            return time
        }
        guard let connectedAt = try time(.connectedAt) else {
            throw DecodingError.valueNotFound(
                String.self, .init(codingPath: [CodingKeys.connectedAt], debugDescription: "connected_at is null"))
        }
        self.init(
            id: try container.decode(Int64.self, forKey: .id), peer: try container.decode(String.self, forKey: .peer),
            nickname: try container.decodeIfPresent(String.self, forKey: .nickname), connectedAt: connectedAt,
            disconnectedAt: try time(.disconnectedAt),
            closeReason: try container.decodeIfPresent(String.self, forKey: .closeReason),
            linesIn: try container.decodeIfPresent(Int64.self, forKey: .linesIn) ?? 0,
            linesOut: try container.decodeIfPresent(Int64.self, forKey: .linesOut) ?? 0,
            bytesIn: try container.decodeIfPresent(Int64.self, forKey: .bytesIn) ?? 0,
            bytesOut: try container.decodeIfPresent(Int64.self, forKey: .bytesOut) ?? 0)
    }

    /// The record as one line of `switchboard history --json` (no newline): keys sorted, slashes and
    /// non-ASCII text as they are, control characters escaped.
    public func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
