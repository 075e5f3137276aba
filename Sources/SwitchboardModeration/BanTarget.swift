import NIOCore
import SwitchboardProtocol

/// What a ban holds: a block of addresses or a nickname.
///
/// Addresses have one spelling each, so one block is one row and one key: an IPv4-mapped IPv6 block is
/// stored as IPv4, host bits are refused rather than guessed, and a bare IPv6 address means its /64 (one
/// subscriber's network; banning the single address would be dodged by picking another of its 2^64).
public enum BanTarget: Sendable, Hashable, CustomStringConvertible {
    /// A block of addresses (one host is /32 or /128).
    case network(IPAddressRange)
    /// A nickname, by its key (``Nickname/key(_:)``).
    case nickname(String)

    /// The widest IPv4 block a ban may cover: /8 (a ban of `0.0.0.0/0` is a mistake, never a wish).
    public static let widestIPv4Prefix = 8
    /// The widest IPv6 block a ban may cover: /32 (a whole provider; `::/0` is refused).
    public static let widestIPv6Prefix = 32
    /// A bare IPv6 address (and a connected IPv6 client banned by nick) is banned as this block.
    public static let ipv6HostPrefix = 64

    /// Parses an operator's `ADDRESS` or `CIDR`: IPv4 `10.1.2.3` (that host) or `10.0.0.0/16`; IPv6
    /// `2001:db8::1` (its /64) or `2001:db8::/48`. Refuses malformed text, prefix lengths out of range, host
    /// bits after the prefix, and blocks wider than ``widestIPv4Prefix`` / ``widestIPv6Prefix``.
    public init(parsingAddress text: String) throws(ModerationInputError) {
        var range: IPAddressRange
        do {
            range = try IPAddressRange(parsing: text).unmapped
        } catch {
            throw ModerationInputError("invalid ban target '\(text)': \(error.reason)")
        }
        let isIPv6 = range.network.count == 16
        if isIPv6, !text.contains("/"), let host = IPAddressRange(block: range.network, prefixLength: Self.ipv6HostPrefix) {
            range = host
        }
        let widest = isIPv6 ? Self.widestIPv6Prefix : Self.widestIPv4Prefix
        guard range.prefixLength >= widest else {
            throw ModerationInputError(
                "refusing to ban \(range): wider than /\(widest) (that is \(isIPv6 ? "a whole provider or more" : "millions of addresses"))")
        }
        self = .network(range)
    }

    /// The block a connected client at `address` is banned by: its IPv4 address, or its IPv6 /64. `nil` for
    /// a Unix socket (no address to ban).
    public init?(client address: SocketAddress) {
        guard let bytes = IPAddressRange.unmappedBytes(of: address),
            let range = IPAddressRange(block: bytes, prefixLength: bytes.count == 4 ? 32 : Self.ipv6HostPrefix)
        else { return nil }
        self = .network(range)
    }

    /// Rebuilds a target from its row (`kind`, `target` columns); `nil` for a row that is not one this
    /// server writes (edited by hand), which the caller reports and skips.
    public init?(kind: String, storedText: String) {
        switch kind {
        case "network":
            guard let range = try? IPAddressRange(parsing: storedText), range.unmapped == range else { return nil }
            self = .network(range)
        case "nickname":
            guard Nickname.problem(with: storedText) == nil, Nickname.key(storedText) == storedText else { return nil }
            self = .nickname(storedText)
        default:
            return nil
        }
    }

    /// The `kind` column: `network` or `nickname`.
    public var kind: String {
        switch self {
        case .network: return "network"
        case .nickname: return "nickname"
        }
    }

    /// The `target` column: the canonical CIDR, or the nickname key.
    public var storedText: String {
        switch self {
        case .network(let range): return range.description
        case .nickname(let key): return key
        }
    }

    /// Whether a client at `address` falls under this target (nickname targets never match an address).
    public func covers(_ address: SocketAddress) -> Bool {
        guard case .network(let range) = self else { return false }
        return range.contains(address)
    }

    /// What operators and `/bans` see: `10.0.0.0/8`, `2001:db8::/64`, `nick bob`. A single host is shown
    /// without its `/32`.
    public var description: String {
        switch self {
        case .network(let range):
            return range.prefixLength == 32 && range.network.count == 4 ? IPAddressRange.text(of: range.network) : range.description
        case .nickname(let key): return "nick \(key)"
        }
    }
}
