import NIOCore
import SwitchboardDatabase
import SwitchboardProtocol

/// The bans in force, as a value, indexed so that checking a connecting client is a few hash lookups
/// whatever the number of bans — never a scan of them:
///
/// ```
///   IPv4: prefix length → { network as UInt32 → ban }      e.g. 32 → {10.1.2.3}, 16 → {192.168.0.0}
///   IPv6: prefix length → { network as UInt128 → ban }     e.g. 64 → {2001:db8:0:1::}, 48 → {…}
///   nicknames: key → ban
/// ```
///
/// An address is checked once per prefix length in use (at most 33 for IPv4, 129 for IPv6; a few in
/// practice), most specific first: mask, then one dictionary lookup. 10 000 exact addresses are one
/// lookup; 10 000 bans spread over every IPv6 length are 129.
///
/// Expiry is checked at lookup (``ban(address:nickname:at:)`` takes the time), so an expired ban stops
/// holding on time without anyone removing it; ``removeExpired(at:)`` tidies.
///
/// A value: the hub owns one copy on its event loop and replaces it when the database says bans changed.
public struct BanList: Sendable {
    private var bans: [BanTarget: Ban] = [:]
    private var ipv4: [Int: [UInt32: Ban]] = [:]
    private var ipv6: [Int: [UInt128: Ban]] = [:]
    private var nicknames: [String: Ban] = [:]
    /// The prefix lengths in use, longest first.
    private var ipv4Lengths: [Int] = []
    private var ipv6Lengths: [Int] = []

    public init(_ bans: [Ban] = []) {
        for ban in bans { insert(ban) }
    }

    /// How many bans (active or not yet tidied away).
    public var count: Int { bans.count }

    /// Every ban, most recent first, for `/bans`.
    public var all: [Ban] {
        bans.values.sorted { ($0.setAt, $0.target.storedText) > ($1.setAt, $1.target.storedText) }
    }

    /// The ban on exactly `target`, if any.
    public subscript(target: BanTarget) -> Ban? { bans[target] }

    /// Adds `ban`, replacing one on the same target.
    public mutating func insert(_ ban: Ban) {
        bans[ban.target] = ban
        switch ban.target {
        case .nickname(let key):
            nicknames[key] = ban
        case .network(let range):
            if range.network.count == 4 {
                if ipv4[range.prefixLength] == nil { ipv4Lengths = Self.adding(range.prefixLength, to: ipv4Lengths) }
                ipv4[range.prefixLength, default: [:]][Self.integer(range.network) as UInt32] = ban
            } else {
                if ipv6[range.prefixLength] == nil { ipv6Lengths = Self.adding(range.prefixLength, to: ipv6Lengths) }
                ipv6[range.prefixLength, default: [:]][Self.integer(range.network) as UInt128] = ban
            }
        }
    }

    /// Removes the ban on exactly `target` and returns it.
    @discardableResult
    public mutating func remove(_ target: BanTarget) -> Ban? {
        guard let ban = bans.removeValue(forKey: target) else { return nil }
        switch target {
        case .nickname(let key):
            nicknames[key] = nil
        case .network(let range):
            let length = range.prefixLength
            if range.network.count == 4 {
                ipv4[length]?[Self.integer(range.network) as UInt32] = nil
                if ipv4[length]?.isEmpty == true {
                    ipv4[length] = nil
                    ipv4Lengths.removeAll { $0 == length }
                }
            } else {
                ipv6[length]?[Self.integer(range.network) as UInt128] = nil
                if ipv6[length]?.isEmpty == true {
                    ipv6[length] = nil
                    ipv6Lengths.removeAll { $0 == length }
                }
            }
        }
        return ban
    }

    /// Drops the bans that no longer hold at `now`; returns them.
    @discardableResult
    public mutating func removeExpired(at now: Timestamp) -> [Ban] {
        let expired = bans.values.filter { !$0.isActive(at: now) }
        for ban in expired { remove(ban.target) }
        return expired
    }

    /// The ban that holds at `now` for a client at `address` (Unix sockets: none) or named `nickname`: the
    /// most specific block first, then the nickname. `nil` when none holds.
    public func ban(address: SocketAddress?, nickname: String? = nil, at now: Timestamp) -> Ban? {
        if let address, let bytes = IPAddressRange.unmappedBytes(of: address) {
            if bytes.count == 4 {
                let value: UInt32 = Self.integer(bytes)
                for length in ipv4Lengths {
                    let mask: UInt32 = length == 0 ? 0 : ~0 << (32 - length)
                    if let ban = ipv4[length]?[value & mask], ban.isActive(at: now) { return ban }
                }
            } else {
                let value: UInt128 = Self.integer(bytes)
                for length in ipv6Lengths {
                    let mask: UInt128 = length == 0 ? 0 : ~0 << (128 - length)
                    if let ban = ipv6[length]?[value & mask], ban.isActive(at: now) { return ban }
                }
            }
        }
        if let nickname, !nicknames.isEmpty, let ban = nicknames[Nickname.key(nickname)], ban.isActive(at: now) { return ban }
        return nil
    }

    private static func integer<T: FixedWidthInteger & UnsignedInteger>(_ bytes: [UInt8]) -> T {
        bytes.reduce(T.zero) { $0 << 8 | T($1) }
    }

    private static func adding(_ length: Int, to lengths: [Int]) -> [Int] {
        (lengths + [length]).sorted(by: >)
    }
}
