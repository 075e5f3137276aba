import SwitchboardProtocol
import XCTest

/// Seeded fuzzing of `TelnetLineParser`: thousands of random inputs, each fed in several different splits, checked
/// against the parser's invariants and against an independent, deliberately naive reference framer.
///
/// Deterministic: the seeds are fixed, so a failure reproduces exactly; the failing input is printed in hex.
final class TelnetLineParserFuzzTests: XCTestCase {
    private typealias Event = TelnetLineParser.Event

    private static let cr: UInt8 = 13
    private static let lf: UInt8 = 10
    private static let nul: UInt8 = 0
    private static let iac: UInt8 = 255

    /// Random bytes mixed with CR, LF, NUL, well-formed and broken IAC sequences and long runs never crash, never
    /// emit a line over the limit, never buffer more than the limit, and give identical events however they are split.
    func testRandomInputsKeepTheInvariantsUnderEverySplit() {
        var generator = SeededGenerator(seed: 0xC0FFEE)
        for iteration in 0..<3_000 {
            let maximum = [1, 2, 3, 8, 16, 64, 1024].randomElement(using: &generator)!
            let input = randomWireInput(maximum: maximum, allowTelnet: true, using: &generator)
            let reference = run(input, maximum: maximum, chunkSizes: [input.count + 1])
            guard check(reference, maximum: maximum, input: input, iteration: iteration) else { return }

            var splits: [[Int]] = [randomChunkSizes(maximum: maximum, using: &generator),
                                   randomChunkSizes(maximum: maximum, using: &generator)]
            if input.count <= 4_096 { splits.append([1]) }
            for sizes in splits {
                let other = run(input, maximum: maximum, chunkSizes: sizes)
                guard check(other, maximum: maximum, input: input, iteration: iteration) else { return }
                guard other.events == reference.events, other.finalBuffered == reference.finalBuffered else {
                    XCTFail("iteration \(iteration): split \(sizes.prefix(8))… changed the events for \(hex(input))")
                    return
                }
            }
        }
    }

    /// Without IAC bytes, the parser agrees with a simple whole-input reference framer (overlong lines included),
    /// and the emitted lines plus their terminators plus the unfinished tail account for every input byte.
    func testInputsWithoutTelnetCommandsMatchAReferenceFramerAndLoseNoByte() {
        var generator = SeededGenerator(seed: 0xFEED_F00D)
        var checkedByteAccounting = 0
        for iteration in 0..<3_000 {
            let maximum = [1, 4, 16, 64, 300].randomElement(using: &generator)!
            let input = randomWireInput(maximum: maximum, allowTelnet: false, using: &generator)
            XCTAssertFalse(input.contains(Self.iac))
            // Half the time the limit is far above any line, so the byte accounting below sees plenty of inputs.
            let limit = Bool.random(using: &generator) ? maximum : 1_000 * maximum
            let expected = ReferenceFramer.frame(input, maximum: limit)
            let actual = run(input, maximum: limit, chunkSizes: randomChunkSizes(maximum: maximum, using: &generator))
            guard check(actual, maximum: limit, input: input, iteration: iteration) else { return }
            guard actual.events == expected.events, actual.finalBuffered == expected.pending.count else {
                XCTFail("iteration \(iteration): events differ from the reference for \(hex(input))")
                return
            }
            guard !expected.events.contains(.lineTooLong) else { continue }
            // No byte lost between lines: rebuild the input from the parser's own lines, the terminators that
            // followed them, and the tail it still holds.
            var rebuilt: [UInt8] = []
            for (event, terminator) in zip(actual.events, expected.terminators) {
                guard case .line(let content) = event else { continue }
                rebuilt += content + terminator
            }
            rebuilt += input.suffix(actual.finalBuffered)
            guard rebuilt == input else {
                XCTFail("iteration \(iteration): bytes lost or invented: \(hex(input)) became \(hex(rebuilt))")
                return
            }
            checkedByteAccounting += 1
        }
        XCTAssertGreaterThan(checkedByteAccounting, 1_000, "too few inputs without overlong lines to mean much")
    }

    /// Well-formed telnet commands spliced into plain input are invisible: the events equal the reference framing
    /// of the data alone (with `IAC IAC` as a 0xFF data byte), under any split.
    func testWellFormedTelnetCommandsAreInvisible() {
        var generator = SeededGenerator(seed: 0x7E1E7)
        for iteration in 0..<3_000 {
            let maximum = [1, 4, 16, 64].randomElement(using: &generator)!
            var wire: [UInt8] = []
            var data: [UInt8] = []
            for _ in 0..<Int.random(in: 0...40, using: &generator) {
                // A command between CR and its LF/NUL would rightly split CR LF into two terminators; the
                // reference framer sees the data alone, so commands go elsewhere.
                let afterCR = data.last == Self.cr
                switch Int.random(in: 0..<10, using: &generator) {
                case 0..<5:
                    let piece = randomDataPiece(maximum: maximum, using: &generator)
                    wire += piece
                    data += piece
                case 5 where !afterCR:
                    wire += [Self.iac, Self.iac]
                    data.append(0xff)
                case 6..<10 where !afterCR:
                    wire += randomTelnetCommand(using: &generator)
                default:
                    break
                }
            }
            let expected = ReferenceFramer.frame(data, maximum: maximum)
            for sizes in [[wire.count + 1], [1], randomChunkSizes(maximum: maximum, using: &generator)] {
                let actual = run(wire, maximum: maximum, chunkSizes: sizes)
                guard check(actual, maximum: maximum, input: wire, iteration: iteration) else { return }
                guard actual.events == expected.events, actual.finalBuffered == expected.pending.count else {
                    XCTFail("iteration \(iteration): telnet commands changed the events for \(hex(wire))")
                    return
                }
            }
        }
    }

    /// Long inputs with a realistic limit (1024) and multi-kilobyte runs, fed in random chunks, keep the invariants.
    func testLongRunsWithTheDefaultLimitKeepTheInvariants() {
        var generator = SeededGenerator(seed: 1024)
        let maximum = 1024
        for iteration in 0..<200 {
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: input += [UInt8](repeating: UInt8.random(in: 0x20...0x7e, using: &generator),
                                         count: Int.random(in: 900...1100, using: &generator))
                case 1: input += [UInt8](repeating: 0x41, count: Int.random(in: 0...5_000, using: &generator))
                case 2: input += [[Self.cr, Self.lf], [Self.lf], [Self.cr, Self.nul], [Self.cr]].randomElement(using: &generator)!
                default: input += randomWireInput(maximum: 40, allowTelnet: true, using: &generator)
                }
            }
            let whole = run(input, maximum: maximum, chunkSizes: [input.count + 1])
            let chunked = run(input, maximum: maximum, chunkSizes: randomChunkSizes(maximum: 4_096, using: &generator))
            guard check(whole, maximum: maximum, input: input, iteration: iteration),
                  check(chunked, maximum: maximum, input: input, iteration: iteration) else { return }
            XCTAssertEqual(whole.events, chunked.events, "iteration \(iteration)")
        }
    }

    /// The generator is deterministic: the same seed gives the same numbers (so failures reproduce).
    func testSeededGeneratorIsDeterministic() {
        var first = SeededGenerator(seed: 42)
        var second = SeededGenerator(seed: 42)
        var other = SeededGenerator(seed: 43)
        let a = (0..<8).map { _ in first.next() }
        XCTAssertEqual(a, (0..<8).map { _ in second.next() })
        XCTAssertNotEqual(a, (0..<8).map { _ in other.next() })
    }

    // MARK: running the parser

    private struct Run {
        var events: [Event] = []
        var largestBuffered = 0
        var longestLine = 0
        var finalBuffered = 0
    }

    /// Feeds `input` in chunks of the given sizes (cycled; a 0 is an empty feed) and records what the invariants need.
    private func run(_ input: [UInt8], maximum: Int, chunkSizes: [Int]) -> Run {
        precondition(chunkSizes.contains { $0 > 0 })
        var parser = TelnetLineParser(maximumLineLength: maximum)
        var result = Run()
        input.withUnsafeBytes { all in
            var start = 0
            var turn = 0
            repeat {
                let end = min(all.count, start + chunkSizes[turn % chunkSizes.count])
                parser.feed(UnsafeRawBufferPointer(rebasing: all[start..<end])) { event in
                    if case .line(let content) = event { result.longestLine = max(result.longestLine, content.count) }
                    result.events.append(event)
                }
                result.largestBuffered = max(result.largestBuffered, parser.bufferedByteCount)
                start = end
                turn += 1
            } while start < all.count
        }
        result.finalBuffered = parser.bufferedByteCount
        return result
    }

    private func check(_ run: Run, maximum: Int, input: [UInt8], iteration: Int) -> Bool {
        guard run.largestBuffered <= maximum, run.longestLine <= maximum else {
            XCTFail("iteration \(iteration): buffered \(run.largestBuffered), longest line \(run.longestLine), limit "
                    + "\(maximum) for \(hex(input))")
            return false
        }
        return true
    }

    // MARK: random input

    private func randomChunkSizes(maximum: Int, using generator: inout SeededGenerator) -> [Int] {
        let top = max(2, min(2 * maximum + 3, 8_192))
        return (0..<32).map { _ in Int.random(in: 0...top, using: &generator) } + [1]
    }

    /// Data with terminators but no IAC: text, random non-IAC bytes, NULs, every terminator, long runs.
    private func randomDataPiece(maximum: Int, using generator: inout SeededGenerator) -> [UInt8] {
        switch Int.random(in: 0..<9, using: &generator) {
        case 0: return Array("hello".utf8.prefix(Int.random(in: 0...5, using: &generator)))
        case 1: return [UInt8.random(in: 0...254, using: &generator)]
        case 2: return [Self.cr]
        case 3: return [Self.lf]
        case 4: return [Self.nul]
        case 5: return [Self.cr, Self.lf]
        case 6: return [Self.cr, Self.nul]
        case 7: return (0..<Int.random(in: 0...6, using: &generator)).map { _ in UInt8.random(in: 0...254, using: &generator) }
        default:
            // Runs around the limit hit "exactly max", "max + 1" and far beyond.
            let length = Int.random(in: max(0, maximum - 2)...(maximum + 2), using: &generator)
                + (Bool.random(using: &generator) ? 0 : Int.random(in: 0...(3 * maximum), using: &generator))
            return [UInt8](repeating: UInt8.random(in: 0x20...0x7e, using: &generator), count: length)
        }
    }

    /// A well-formed telnet command: negotiation, subnegotiation (payload may hold CR, LF and escaped IAC) or two-byte.
    private func randomTelnetCommand(using generator: inout SeededGenerator) -> [UInt8] {
        switch Int.random(in: 0..<3, using: &generator) {
        case 0:
            return [Self.iac, UInt8.random(in: 251...254, using: &generator), UInt8.random(in: 0...255, using: &generator)]
        case 1:
            var payload: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                let byte = [UInt8.random(in: 0...255, using: &generator), Self.cr, Self.lf, 240]
                    .randomElement(using: &generator)!
                payload += byte == Self.iac ? [Self.iac, Self.iac] : [byte]
            }
            return [Self.iac, 250] + payload + [Self.iac, 240]
        default:
            return [Self.iac, UInt8.random(in: 240...249, using: &generator)]
        }
    }

    /// Anything: data pieces, and (when allowed) well-formed commands, lone IACs, raw 0xFF and unterminated SB.
    private func randomWireInput(maximum: Int, allowTelnet: Bool, using generator: inout SeededGenerator) -> [UInt8] {
        var input: [UInt8] = []
        for _ in 0..<Int.random(in: 0...40, using: &generator) {
            guard allowTelnet else {
                input += randomDataPiece(maximum: maximum, using: &generator)
                continue
            }
            switch Int.random(in: 0..<14, using: &generator) {
            case 0..<8: input += randomDataPiece(maximum: maximum, using: &generator)
            case 8, 9: input += randomTelnetCommand(using: &generator)
            case 10: input += [Self.iac, Self.iac]
            case 11: input.append(Self.iac)
            case 12: input += [Self.iac, 250] + (0..<Int.random(in: 0...20, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            default: input += (0..<Int.random(in: 1...16, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
        }
        return input
    }

    private func hex(_ bytes: [UInt8]) -> String {
        let shown = bytes.prefix(256).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
        return "[\(bytes.count) bytes: \(shown)\(bytes.count > 256 ? " …" : "")]"
    }
}

/// An independent, naive framer over a whole input with no telnet commands: CR, LF, CR LF and CR NUL end lines;
/// a line over the limit becomes `.lineTooLong` (reported even when its terminator never came).
private enum ReferenceFramer {
    struct Framing {
        var events: [TelnetLineParser.Event] = []
        /// The terminator bytes that ended each event, in order (the unfinished tail has none).
        var terminators: [[UInt8]] = []
        /// The unfinished last line, if it is within the limit.
        var pending: [UInt8] = []
    }

    static func frame(_ input: [UInt8], maximum: Int) -> Framing {
        var framing = Framing()
        var current: [UInt8] = []
        var index = 0
        while index < input.count {
            let byte = input[index]
            index += 1
            guard byte == 13 || byte == 10 else {
                current.append(byte)
                continue
            }
            var terminator = [byte]
            if byte == 13, index < input.count, input[index] == 10 || input[index] == 0 {
                terminator.append(input[index])
                index += 1
            }
            framing.events.append(current.count > maximum ? .lineTooLong : .line(current))
            framing.terminators.append(terminator)
            current = []
        }
        if current.count > maximum {
            framing.events.append(.lineTooLong)
        } else {
            framing.pending = current
        }
        return framing
    }
}

/// SplitMix64: a tiny deterministic generator, so every run sees the same "random" inputs and failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
