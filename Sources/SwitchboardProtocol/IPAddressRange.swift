import NIOCore

/// A block of IP addresses in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is one
/// host), for `--trusted-proxy`.
///
/// An IPv4 range also contains the IPv4-mapped IPv6 form of its addresses (`::ffff:10.1.2.3`), which is
/// how a dual-stack listener (`interface=[::]`) sees IPv4 clients.
public struct IPAddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes (4 or 16), host bits zeroed.
    public let network: [UInt8]
    /// The prefix length in bits.
    public let prefixLength: Int

    /// Parses `ADDRESS/BITS` or `ADDRESS`. Host bits set in ADDRESS are refused (`10.0.0.1/8` is more likely
    /// a typo than a wish for `10.0.0.0/8`).
    public init(parsing text: String) throws(IPAddressRangeError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let addressText = String(parts[0])
        guard let bytes = IPAddressRange.bytes(ofAddress: addressText) else {
            throw IPAddressRangeError(text, "not an IPv4 or IPv6 address")
        }
        let maximum = bytes.count * 8
        var length = maximum
        if parts.count == 2 {
            guard let bits = Int(parts[1]), parts[1].allSatisfy(\.isASCII), (0...maximum).contains(bits) else {
                throw IPAddressRangeError(text, "the prefix length must be from 0 to \(maximum)")
            }
            length = bits
        }
        guard IPAddressRange.masked(bytes, prefixLength: length) == bytes else {
            throw IPAddressRangeError(text, "host bits are set after /\(length); did you mean \(IPAddressRange.format(IPAddressRange.masked(bytes, prefixLength: length)))/\(length)?")
        }
        self.network = bytes
        self.prefixLength = length
    }

    /// Whether `address` (an IP socket address; Unix sockets are never contained) lies in this range.
    public func contains(_ address: SocketAddress) -> Bool {
        guard var bytes = IPAddressRange.bytes(of: address) else { return false }
        if network.count == 4, bytes.count == 16, bytes[0..<12] == IPAddressRange.mappedPrefix[...] {
            bytes = Array(bytes[12...])
        }
        guard bytes.count == network.count else { return false }
        return IPAddressRange.masked(bytes, prefixLength: prefixLength) == network
    }

    public var description: String { "\(IPAddressRange.format(network))/\(prefixLength)" }

    /// `::ffff:0:0/96`, the IPv4-mapped IPv6 prefix.
    static let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]

    static func masked(_ bytes: [UInt8], prefixLength: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bitsHere = max(0, min(8, prefixLength - index * 8))
            return bitsHere == 8 ? byte : byte & ~(UInt8(0xFF) >> bitsHere)
        }
    }

    private static func bytes(ofAddress text: String) -> [UInt8]? {
        // Brackets are allowed around IPv6 (as in endpoint strings).
        let bare = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        guard !bare.isEmpty, let address = try? SocketAddress(ipAddress: bare, port: 0) else { return nil }
        return bytes(of: address)
    }

    /// The address bytes of an IP socket address, in network order.
    static func bytes(of address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            return nil
        }
    }

    static func format(_ bytes: [UInt8]) -> String {
        let packed = ByteBuffer(bytes: bytes)
        return (try? SocketAddress(packedIPAddress: packed, port: 0))?.ipAddress ?? "?"
    }
}

/// A `--trusted-proxy` value that is not an address range, and why.
public struct IPAddressRangeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }
    public var description: String { "invalid address range '\(text)': \(reason)" }
}
