import NIOCore

/// The PROXY protocol header a proxy (HAProxy, nginx `proxy_protocol`, AWS NLB, …) sends before the client's
/// bytes, as a pure state machine: bytes in, one outcome out. Version 1 (text) and 2 (binary) are told apart
/// by their first byte.
///
/// ```
///  v1:  "PROXY TCP4 203.0.113.7 192.0.2.1 51234 8000\r\n"  then the client's bytes
///        └ at most 107 bytes, CRLF included; "PROXY UNKNOWN …\r\n" names no client
///
///  v2:  0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A   21      11      00 0C   CB 00 71 07  C0 00 02 01  C8 22  1F 40   [TLVs]
///       └──────────── signature ────────────┘ ver 2  TCP4    length  source       destination  sport  dport
///                                              PROXY  (INET,  (bytes  203.0.113.7  192.0.2.1    51234  8000
///                                              (20 =  STREAM)  after
///                                              LOCAL)          these 16)
/// ```
/// - The outcome is decided as early as the bytes allow: a first byte that starts neither signature, or any
///   later byte that breaks it, is ``Outcome/invalid(_:)`` at once, so a client that is not a proxy (a
///   browser, a scanner, telnet) is turned away on its first packet.
/// - Memory is bounded: a v1 line is held up to ``maximumV1Length`` bytes, a v2 header up to
///   ``maximumV2Length`` (declared lengths above that are refused before anything is buffered).
/// - A v2 header's declared length must hold the addresses its family needs (12 bytes for IPv4, 36 for
///   IPv6, 216 for Unix); TLV fields after them are walked only to check that each lies inside the header,
///   then skipped. `LOCAL` (the proxy's own health check) and families without an IP client (UNSPEC, Unix)
///   give a header whose ``ProxyHeader/source`` is `nil`.
/// - ``Outcome/header(_:consumed:)`` says how many bytes of the last ``feed(_:)`` belonged to the header:
///   the rest are the client's and must be passed on.
///
/// Not thread-safe: owned by one connection's handler on its event loop.
public struct ProxyHeaderParser {
    /// What the bytes fed so far amount to.
    public enum Outcome: Equatable, Sendable {
        /// The header is not complete yet.
        case needMoreData
        /// A complete, valid header; `consumed` bytes of the last feed belonged to it.
        case header(ProxyHeader, consumed: Int)
        /// Not a valid PROXY header; the connection should be closed.
        case invalid(ProxyHeaderError)
    }

    /// The longest v1 header, `PROXY` to CRLF (the specification's limit).
    public static let maximumV1Length = 107
    /// The longest v2 header accepted, the 16 fixed bytes included: addresses plus TLVs (SSL details, AWS
    /// endpoint ids, the authority) fit many times over.
    public static let maximumV2Length = 4_096

    static let v1Prefix: [UInt8] = Array("PROXY ".utf8)
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    private enum State {
        /// Reading the first bytes, which decide the version.
        case signature
        /// Reading a v1 line after `PROXY `.
        case v1
        /// Reading a v2 header's addresses and TLVs: `total` bytes in all, the 16 fixed ones included.
        case v2(total: Int)
        /// Decided; later feeds repeat the outcome and consume nothing.
        case finished(Outcome)
    }

    private var state = State.signature
    private var buffer: [UInt8] = []

    public init() {}

    /// Bytes held so far (never more than ``maximumV2Length``).
    public var bufferedByteCount: Int { buffer.count }

    /// Feeds the next bytes from the connection.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        if case .finished(let outcome) = state {
            if case .header(let header, _) = outcome { return .header(header, consumed: 0) }
            return outcome
        }
        var index = 0
        while index < bytes.count {
            switch state {
            case .signature:
                let byte = bytes[index]
                index += 1
                buffer.append(byte)
                if let outcome = checkSignature(consumed: index) { return finish(outcome) }
            case .v1:
                let byte = bytes[index]
                index += 1
                buffer.append(byte)
                if byte == UInt8(ascii: "\n") {
                    return finish(parseV1(consumed: index))
                }
                if buffer.count >= Self.maximumV1Length {
                    return finish(.invalid(.v1LineTooLong))
                }
            case .v2(let total):
                let take = min(total - buffer.count, bytes.count - index)
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                if buffer.count == total {
                    return finish(parseV2(consumed: index))
                }
            case .finished:
                preconditionFailure("a finished parser returns before the loop")
            }
        }
        return .needMoreData
    }

    /// Feeds an array of bytes (tests, and callers without a buffer at hand).
    public mutating func feed(_ bytes: [UInt8]) -> Outcome {
        bytes.withUnsafeBytes { feed($0) }
    }

    private mutating func finish(_ outcome: Outcome) -> Outcome {
        state = .finished(outcome)
        buffer = []
        return outcome
    }

    // MARK: - Telling the versions apart

    /// After each byte of the signature: an outcome once one is decided, else `nil` (state may move on).
    /// `consumed`: bytes of the current feed read so far.
    private mutating func checkSignature(consumed: Int) -> Outcome? {
        let position = buffer.count - 1
        let byte = buffer[position]
        if buffer[0] == Self.v1Prefix[0] {
            guard byte == Self.v1Prefix[position] else { return .invalid(.notAProxyHeader) }
            if buffer.count == Self.v1Prefix.count { state = .v1 }
            return nil
        }
        if buffer[0] == Self.v2Signature[0] {
            if position < Self.v2Signature.count {
                return byte == Self.v2Signature[position] ? nil : .invalid(.notAProxyHeader)
            }
            if position == 12, byte >> 4 != 2 { return .invalid(.unsupportedVersion(byte >> 4)) }
            if position == 12, byte & 0x0F > 1 { return .invalid(.unsupportedCommand(byte & 0x0F)) }
            guard buffer.count == 16 else { return nil }
            let length = Int(buffer[14]) << 8 | Int(buffer[15])
            guard 16 + length <= Self.maximumV2Length else { return .invalid(.v2TooLong(declared: length)) }
            if length == 0 { return parseV2(consumed: consumed) }
            state = .v2(total: 16 + length)
            return nil
        }
        return .invalid(.notAProxyHeader)
    }

    // MARK: - Version 1

    private func parseV1(consumed: Int) -> Outcome {
        // The line, `PROXY ` included, ends in CRLF; a lone LF is not a terminator.
        guard buffer.count >= 2, buffer[buffer.count - 2] == UInt8(ascii: "\r") else {
            return .invalid(.malformedV1("the line must end in CRLF"))
        }
        let line = buffer[..<(buffer.count - 2)]
        guard line.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            return .invalid(.malformedV1("only printable ASCII is allowed"))
        }
        let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        switch fields.count > 1 ? fields[1] : "" {
        case "UNKNOWN":
            // Whatever follows is ignored (the specification's rule): the proxy could not say who it is.
            return .header(ProxyHeader(version: 1, source: nil, destination: nil), consumed: consumed)
        case "TCP4", "TCP6":
            guard fields.count == 6 else {
                return .invalid(.malformedV1("expected PROXY TCP4|TCP6 SOURCE DESTINATION SPORT DPORT, single spaces"))
            }
            let isV6 = fields[1] == "TCP6"
            guard let sourcePort = Self.port(fields[4]), let destinationPort = Self.port(fields[5]) else {
                return .invalid(.malformedV1("ports are decimal numbers from 0 to 65535"))
            }
            guard let source = Self.address(fields[2], port: sourcePort, isV6: isV6),
                let destination = Self.address(fields[3], port: destinationPort, isV6: isV6)
            else {
                return .invalid(.malformedV1("addresses must be \(isV6 ? "IPv6" : "IPv4") for \(fields[1])"))
            }
            return .header(ProxyHeader(version: 1, source: source, destination: destination), consumed: consumed)
        default:
            return .invalid(.malformedV1("the protocol must be TCP4, TCP6 or UNKNOWN"))
        }
    }

    private static func port(_ text: String) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let value = Int(text), value <= 65_535
        else { return nil }
        return value
    }

    private static func address(_ text: String, port: Int, isV6: Bool) -> SocketAddress? {
        // The text must be of the family the protocol field names: inet_pton decides, nothing else.
        guard isV6 == text.contains(":"), let address = try? SocketAddress(ipAddress: text, port: port) else { return nil }
        return address
    }

    // MARK: - Version 2

    /// Parses a complete v2 header (`buffer` holds all of it); `consumed`: bytes of the last feed in it.
    private func parseV2(consumed: Int) -> Outcome {
        let command = buffer[12] & 0x0F
        let family = buffer[13] >> 4
        let transport = buffer[13] & 0x0F
        let body = buffer[16...]
        if command == 0 {
            // LOCAL: the proxy speaking for itself (a health check); addresses and TLVs are ignored.
            return .header(ProxyHeader(version: 2, source: nil, destination: nil), consumed: consumed)
        }
        guard transport <= 2 else { return .invalid(.unsupportedAddressFamily(buffer[13])) }
        let needed: Int
        switch family {
        case 0: needed = 0  // UNSPEC
        case 1: needed = 12  // INET: two IPv4 addresses and two ports
        case 2: needed = 36  // INET6
        case 3: needed = 216  // UNIX: two 108-byte paths
        default: return .invalid(.unsupportedAddressFamily(buffer[13]))
        }
        guard body.count >= needed else { return .invalid(.v2LengthTooShort(declared: body.count, needed: needed)) }
        guard Self.tlvsFit(body.dropFirst(needed)) else { return .invalid(.malformedTLV) }
        let start = body.startIndex
        func socketAddress(_ range: Range<Int>, portAt offset: Int) -> SocketAddress? {
            let port = Int(buffer[offset]) << 8 | Int(buffer[offset + 1])
            return try? SocketAddress(packedIPAddress: ByteBuffer(bytes: buffer[range]), port: port)
        }
        switch family {
        case 1:
            let source = socketAddress(start..<(start + 4), portAt: start + 8)
            let destination = socketAddress((start + 4)..<(start + 8), portAt: start + 10)
            return .header(ProxyHeader(version: 2, source: source, destination: destination), consumed: consumed)
        case 2:
            let source = socketAddress(start..<(start + 16), portAt: start + 32)
            let destination = socketAddress((start + 16)..<(start + 32), portAt: start + 34)
            return .header(ProxyHeader(version: 2, source: source, destination: destination), consumed: consumed)
        default:
            // UNSPEC or a Unix socket on the proxy's side: no IP client to name.
            return .header(ProxyHeader(version: 2, source: nil, destination: nil), consumed: consumed)
        }
    }

    /// Whether the TLV fields (type: 1 byte, length: 2 bytes, value) tile `bytes` exactly.
    private static func tlvsFit(_ bytes: ArraySlice<UInt8>) -> Bool {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            guard bytes.endIndex - index >= 3 else { return false }
            let length = Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            index += 3
            guard bytes.endIndex - index >= length else { return false }
            index += length
        }
        return true
    }
}

/// Why bytes are not a PROXY protocol header; one line for the debug log.
public enum ProxyHeaderError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The first bytes start neither `PROXY ` nor the v2 signature: not a proxy talking.
    case notAProxyHeader
    /// A v1 line reached 107 bytes without its CRLF.
    case v1LineTooLong
    /// A v1 line with a bad field (what is wrong).
    case malformedV1(String)
    /// A v2 header of a version other than 2.
    case unsupportedVersion(UInt8)
    /// A v2 command other than LOCAL (0) and PROXY (1).
    case unsupportedCommand(UInt8)
    /// A v2 family/transport byte this server does not know.
    case unsupportedAddressFamily(UInt8)
    /// A v2 length too small for the addresses its family needs.
    case v2LengthTooShort(declared: Int, needed: Int)
    /// A v2 length above ``ProxyHeaderParser/maximumV2Length``.
    case v2TooLong(declared: Int)
    /// A v2 TLV field that runs past the header's end.
    case malformedTLV

    public var description: String {
        switch self {
        case .notAProxyHeader: return "not a PROXY protocol header"
        case .v1LineTooLong: return "PROXY v1 line longer than \(ProxyHeaderParser.maximumV1Length) bytes"
        case .malformedV1(let why): return "malformed PROXY v1 header: \(why)"
        case .unsupportedVersion(let version): return "unsupported PROXY header version \(version)"
        case .unsupportedCommand(let command): return "unsupported PROXY v2 command \(command)"
        case .unsupportedAddressFamily(let byte): return "unsupported PROXY v2 address family 0x\(String(byte, radix: 16))"
        case .v2LengthTooShort(let declared, let needed):
            return "PROXY v2 header declares \(declared) bytes but its addresses need \(needed)"
        case .v2TooLong(let declared):
            return "PROXY v2 header declares \(declared) bytes, more than the \(ProxyHeaderParser.maximumV2Length - 16) accepted"
        case .malformedTLV: return "PROXY v2 TLV field runs past the header"
        }
    }
}
