import NIOCore
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

/// Seeded fuzzing of `ProxyHeaderParser`: random valid headers (v1 and v2, every family, random TLVs) followed by
/// client bytes, the same headers with bytes flipped, and random bytes — each fed whole, byte by byte and in
/// random splits. The outcome never depends on the split, a header always ends exactly where it was built to end,
/// nothing is buffered past the limit, and nothing crashes.
///
/// Deterministic: the seeds are fixed; a failure prints the input in hex.
final class ProxyHeaderParserFuzzTests: XCTestCase {
    private typealias Parse = (outcome: ProxyHeaderParser.Outcome, end: Int?)

    /// Random valid headers are parsed to exactly the addresses they were built with and end exactly at their
    /// last byte, under every split.
    func testRandomValidHeadersParseExactlyUnderEverySplit() {
        var generator = SplitMix64(seed: 0x9A0C_5E11)
        for iteration in 0..<2_000 {
            let (header, expected) = randomHeader(using: &generator)
            let trailer = randomBytes(count: Int(generator.next() % 64), using: &generator)
            let input = header + trailer
            for sizes in splits(for: input, using: &generator) {
                let result = ProxyHeaderParserTests.parse(input, chunkSizes: sizes)
                guard result.outcome == .header(expected, consumed: 0), result.end == header.count else {
                    return XCTFail("iteration \(iteration), split \(sizes.prefix(6)): \(result) for \(hex(input)); expected \(expected)")
                }
            }
        }
    }

    /// Valid headers with random bytes flipped, cut short, or with their length field changed: whatever the
    /// outcome, it is the same under every split, a header never ends past the input, and memory stays bounded.
    func testMutatedHeadersGiveTheSameOutcomeUnderEverySplit() {
        var generator = SplitMix64(seed: 0xBADC_AB1E)
        var outcomes: [String: Int] = [:]
        for iteration in 0..<3_000 {
            var (input, _) = randomHeader(using: &generator)
            switch generator.next() % 4 {
            case 0:
                for _ in 0...(generator.next() % 3) {
                    input[Int(generator.next() % UInt64(input.count))] = UInt8(truncatingIfNeeded: generator.next())
                }
            case 1:
                input = Array(input.prefix(Int(generator.next() % UInt64(input.count))))
            case 2 where input.count >= 16 && input[0] == 0x0D:
                let length = Int(generator.next() % 5_000)
                input[14] = UInt8(length >> 8)
                input[15] = UInt8(length & 0xFF)
            default:
                input += randomBytes(count: Int(generator.next() % 32), using: &generator)
            }
            guard checkSplitsAgree(input, iteration: iteration, using: &generator, outcomes: &outcomes) else { return }
        }
        // The mutations reach every kind of outcome, so the agreement above means something.
        XCTAssertGreaterThan(outcomes["header", default: 0], 300, "\(outcomes)")
        XCTAssertGreaterThan(outcomes["invalid", default: 0], 300, "\(outcomes)")
        XCTAssertGreaterThan(outcomes["more", default: 0], 100, "\(outcomes)")
    }

    /// Random bytes, and random bytes after a valid signature: the same outcome under every split, bounded memory.
    func testRandomBytesGiveTheSameOutcomeUnderEverySplit() {
        var generator = SplitMix64(seed: 0x0DD_B17E5)
        var outcomes: [String: Int] = [:]
        for iteration in 0..<3_000 {
            var input = randomBytes(count: Int(generator.next() % 300), using: &generator)
            switch generator.next() % 3 {
            case 0: input = Array("PROXY ".utf8) + input
            case 1: input = ProxyHeaderParserTests.signature + [0x21] + input
            default: break
            }
            guard checkSplitsAgree(input, iteration: iteration, using: &generator, outcomes: &outcomes) else { return }
        }
    }

    // MARK: - Helpers

    private func checkSplitsAgree(
        _ input: [UInt8], iteration: Int, using generator: inout SplitMix64, outcomes: inout [String: Int]
    ) -> Bool {
        let reference = ProxyHeaderParserTests.parse(input)
        switch reference.outcome {
        case .header: outcomes["header", default: 0] += 1
        case .invalid: outcomes["invalid", default: 0] += 1
        case .needMoreData: outcomes["more", default: 0] += 1
        }
        if let end = reference.end, end > input.count {
            XCTFail("iteration \(iteration): header ends past the input: \(hex(input))")
            return false
        }
        for sizes in splits(for: input, using: &generator) {
            let other = ProxyHeaderParserTests.parse(input, chunkSizes: sizes)
            guard other.outcome == reference.outcome, other.end == reference.end else {
                XCTFail("iteration \(iteration), split \(sizes.prefix(6)): \(other) but whole: \(reference) for \(hex(input))")
                return false
            }
        }
        return true
    }

    /// Whole input is the reference; these are the other splits: byte by byte (short inputs), and two random ones.
    private func splits(for input: [UInt8], using generator: inout SplitMix64) -> [[Int]] {
        var result: [[Int]] = [(0..<8).map { _ in Int(generator.next() % 40) + 1 }, [Int(generator.next() % 7) + 1]]
        if input.count <= 600 { result.append([1]) }
        return result
    }

    private func randomHeader(using generator: inout SplitMix64) -> ([UInt8], ProxyHeader) {
        generator.next() % 2 == 0 ? randomV1(using: &generator) : randomV2(using: &generator)
    }

    private func randomV1(using generator: inout SplitMix64) -> ([UInt8], ProxyHeader) {
        let sourcePort = Int(generator.next() % 65_536)
        let destinationPort = Int(generator.next() % 65_536)
        switch generator.next() % 3 {
        case 0:
            let source = (0..<4).map { _ in String(generator.next() % 256) }.joined(separator: ".")
            let destination = (0..<4).map { _ in String(generator.next() % 256) }.joined(separator: ".")
            let text = "PROXY TCP4 \(source) \(destination) \(sourcePort) \(destinationPort)\r\n"
            return (Array(text.utf8), ProxyHeader(
                version: 1, source: try! SocketAddress(ipAddress: source, port: sourcePort),
                destination: try! SocketAddress(ipAddress: destination, port: destinationPort)))
        case 1:
            let source = randomIPv6(using: &generator)
            let destination = randomIPv6(using: &generator)
            let text = "PROXY TCP6 \(source.ipAddress!) \(destination.ipAddress!) \(sourcePort) \(destinationPort)\r\n"
            return (Array(text.utf8), ProxyHeader(
                version: 1, source: try! SocketAddress(ipAddress: source.ipAddress!, port: sourcePort),
                destination: try! SocketAddress(ipAddress: destination.ipAddress!, port: destinationPort)))
        default:
            return (Array("PROXY UNKNOWN\r\n".utf8), ProxyHeader(version: 1, source: nil, destination: nil))
        }
    }

    private func randomIPv6(using generator: inout SplitMix64) -> SocketAddress {
        let bytes = (0..<16).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        return try! SocketAddress(packedIPAddress: ByteBuffer(bytes: bytes), port: 0)
    }

    private func randomV2(using generator: inout SplitMix64) -> ([UInt8], ProxyHeader) {
        var tlvs: [UInt8] = []
        for _ in 0..<(generator.next() % 4) {
            let value = randomBytes(count: Int(generator.next() % 40), using: &generator)
            tlvs += [UInt8(truncatingIfNeeded: generator.next()), UInt8(value.count >> 8), UInt8(value.count & 0xFF)] + value
        }
        let port = { (g: inout SplitMix64) -> (Int, [UInt8]) in
            let value = Int(g.next() % 65_536)
            return (value, [UInt8(value >> 8), UInt8(value & 0xFF)])
        }
        let (sourcePort, sourcePortBytes) = port(&generator)
        let (destinationPort, destinationPortBytes) = port(&generator)
        switch generator.next() % 4 {
        case 0:
            let source = randomBytes(count: 4, using: &generator)
            let destination = randomBytes(count: 4, using: &generator)
            return (ProxyHeaderParserTests.v2(family: 0x11, body: source + destination + sourcePortBytes + destinationPortBytes + tlvs),
                    ProxyHeader(version: 2, source: packed(source, sourcePort), destination: packed(destination, destinationPort)))
        case 1:
            let source = randomBytes(count: 16, using: &generator)
            let destination = randomBytes(count: 16, using: &generator)
            return (ProxyHeaderParserTests.v2(family: 0x21, body: source + destination + sourcePortBytes + destinationPortBytes + tlvs),
                    ProxyHeader(version: 2, source: packed(source, sourcePort), destination: packed(destination, destinationPort)))
        case 2:
            // LOCAL: whatever follows the fixed part is ignored, even what is not TLVs.
            let body = randomBytes(count: Int(generator.next() % 50), using: &generator)
            return (ProxyHeaderParserTests.v2(command: 0, family: UInt8(truncatingIfNeeded: generator.next()), body: body),
                    ProxyHeader(version: 2, source: nil, destination: nil))
        default:
            return (ProxyHeaderParserTests.v2(family: 0x31, body: randomBytes(count: 216, using: &generator) + tlvs),
                    ProxyHeader(version: 2, source: nil, destination: nil))
        }
    }

    private func packed(_ bytes: [UInt8], _ port: Int) -> SocketAddress {
        try! SocketAddress(packedIPAddress: ByteBuffer(bytes: bytes), port: port)
    }

    private func randomBytes(count: Int, using generator: inout SplitMix64) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }

    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
