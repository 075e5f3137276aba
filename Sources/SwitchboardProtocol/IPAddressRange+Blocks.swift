import NIOCore

extension IPAddressRange {
    /// The block of `prefixLength` bits around `bytes` (4 or 16 address bytes), host bits cleared: how a ban
    /// widens one IPv6 address to its /64. `nil` for another byte count or a length out of range.
    public init?(block bytes: [UInt8], prefixLength: Int) {
        guard bytes.count == 4 || bytes.count == 16, (0...bytes.count * 8).contains(prefixLength) else { return nil }
        self.network = IPAddressRange.masked(bytes, prefixLength: prefixLength)
        self.prefixLength = prefixLength
    }

    /// The same block with an IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) written as IPv4
    /// (`10.0.0.0/8`), so one set of addresses has one spelling; any other range unchanged.
    public var unmapped: IPAddressRange {
        guard network.count == 16, prefixLength >= 96, network[0..<12] == IPAddressRange.mappedPrefix[...] else {
            return self
        }
        return IPAddressRange(block: Array(network[12...]), prefixLength: prefixLength - 96) ?? self
    }

    /// The address bytes of an IP socket address in network order, an IPv4-mapped IPv6 address as its 4
    /// IPv4 bytes (how a dual-stack listener sees IPv4 clients); `nil` for a Unix socket.
    public static func unmappedBytes(of address: SocketAddress) -> [UInt8]? {
        guard let bytes = bytes(of: address) else { return nil }
        if bytes.count == 16, bytes[0..<12] == mappedPrefix[...] { return Array(bytes[12...]) }
        return bytes
    }

    /// The address itself, printed (`10.1.2.3`, `2001:db8::1`).
    public static func text(of bytes: [UInt8]) -> String { format(bytes) }
}
