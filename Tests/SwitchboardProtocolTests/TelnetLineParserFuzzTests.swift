import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

/// Seeded fuzzing of `TelnetLineParser`: thousands of random inputs, each fed in several different splits, checked
/// against the parser's invariants and against independent, deliberately naive references: a framer for plain data
/// and a model of the telnet semantics (negotiation answers, IP/AO/EL/EC, AYT).
///
/// Deterministic: the seeds are fixed, so a failure reproduces exactly; the failing input is printed in hex.
final class TelnetLineParserFuzzTests: XCTestCase {
    private typealias Event = TelnetLineParser.Event

    private static let cr: UInt8 = 13
    private static let lf: UInt8 = 10
    private static let nul: UInt8 = 0
    private static let iac: UInt8 = 255

    /// Random bytes mixed with CR, LF, NUL, well-formed and broken IAC sequences and long runs never crash, never
    /// emit a line over the limit, never buffer more than the limit, only ever reply `WILL TIMING-MARK` or a refusal
    /// (each refusal once), and give identical events however they are split.
    func testRandomInputsKeepTheInvariantsUnderEverySplit() {
        var generator = SplitMix64(seed: 0xC0FFEE)
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
        var generator = SplitMix64(seed: 0xFEED_F00D)
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

    /// Telnet commands of every kind spliced anywhere into UTF-8 text (between a CR and its LF too, where they split
    /// the terminator) give exactly the events of an independent whole-input model, under any split: answers to DO and
    /// WILL, refusals once, IP/AO/EL dropping the partial line, EC erasing one scalar, AYT, SB skipped, IAC IAC data.
    func testTelnetCommandsMatchAReferenceModel() {
        var generator = SplitMix64(seed: 0x7E1E7)
        var seen = Set<String>()
        for iteration in 0..<3_000 {
            let maximum = [1, 4, 16, 64].randomElement(using: &generator)!
            var wire: [UInt8] = []
            for _ in 0..<Int.random(in: 0...40, using: &generator) {
                if Int.random(in: 0..<10, using: &generator) < 5 {
                    wire += randomTextPiece(maximum: maximum, using: &generator)
                } else {
                    wire += randomTelnetCommand(using: &generator)
                }
            }
            if Int.random(in: 0..<8, using: &generator) == 0 {  // a command cut short by the end of the input
                wire += [[Self.iac], [Self.iac, 253], [Self.iac, 250, 1, 2], [Self.iac, 250, Self.iac]].randomElement(using: &generator)!
            }
            let expected = ReferenceTelnet.run(wire, maximum: maximum)
            for event in expected.events { seen.insert(Self.kind(of: event)) }
            for sizes in [[wire.count + 1], [1], randomChunkSizes(maximum: maximum, using: &generator)] {
                let actual = run(wire, maximum: maximum, chunkSizes: sizes)
                guard check(actual, maximum: maximum, input: wire, iteration: iteration) else { return }
                guard actual.events == expected.events, actual.finalBuffered == expected.pending else {
                    XCTFail("iteration \(iteration): events differ from the model for \(hex(wire)):\n"
                            + "parser \(actual.events) (holding \(actual.finalBuffered))\n"
                            + "model  \(expected.events) (holding \(expected.pending))")
                    return
                }
            }
        }
        XCTAssertEqual(seen, ["line", "lineTooLong", "WILL", "WONT", "DONT", "areYouThere"], "the inputs exercise every event")
    }

    /// Long inputs with a realistic limit (1024) and multi-kilobyte runs, fed in random chunks, keep the invariants.
    func testLongRunsWithTheDefaultLimitKeepTheInvariants() {
        var generator = SplitMix64(seed: 1024)
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
    func testSplitMix64IsDeterministic() {
        var first = SplitMix64(seed: 42)
        var second = SplitMix64(seed: 42)
        var other = SplitMix64(seed: 43)
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
        var refusals = Set<[UInt8]>()
        for case .reply(let bytes) in run.events {
            let wellFormed = bytes.count == 3 && bytes[0] == Self.iac
                && (bytes[1] == 251 ? bytes[2] == 6 : bytes[1] == 252 ? bytes[2] != 6 : bytes[1] == 254)
            guard wellFormed, bytes[1] == 251 || refusals.insert(bytes).inserted else {
                XCTFail("iteration \(iteration): reply \(bytes) is not WILL 6 or a first refusal, for \(hex(input))")
                return false
            }
        }
        return true
    }

    private static func kind(of event: Event) -> String {
        switch event {
        case .line: return "line"
        case .lineTooLong: return "lineTooLong"
        case .areYouThere: return "areYouThere"
        case .reply(let bytes): return [251: "WILL", 252: "WONT", 254: "DONT"][bytes[1]] ?? "\(bytes)"
        }
    }

    // MARK: random input

    private func randomChunkSizes(maximum: Int, using generator: inout SplitMix64) -> [Int] {
        let top = max(2, min(2 * maximum + 3, 8_192))
        return (0..<32).map { _ in Int.random(in: 0...top, using: &generator) } + [1]
    }

    /// Data with terminators but no IAC: text, random non-IAC bytes, NULs, every terminator, long runs.
    private func randomDataPiece(maximum: Int, using generator: inout SplitMix64) -> [UInt8] {
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

    /// Valid UTF-8 text (multi-byte scalars included, for EC) and terminators, with runs around the limit.
    private func randomTextPiece(maximum: Int, using generator: inout SplitMix64) -> [UInt8] {
        switch Int.random(in: 0..<8, using: &generator) {
        case 0: return Array(["hello", "é", "€", "😀", "a", "👋🏽", "ñandú", "\u{0}"].randomElement(using: &generator)!.utf8)
        case 1: return [UInt8.random(in: 0...0x7f, using: &generator)]
        case 2, 3: return [[Self.cr], [Self.lf], [Self.cr, Self.lf], [Self.cr, Self.nul]].randomElement(using: &generator)!
        case 4: return Array(String(repeating: "é", count: Int.random(in: 0...maximum, using: &generator)).utf8)
        default:
            let length = Int.random(in: max(0, maximum - 2)...(maximum + 2), using: &generator)
            return [UInt8](repeating: UInt8.random(in: 0x20...0x7e, using: &generator), count: length)
        }
    }

    /// A well-formed telnet command: negotiation (options biased to repeat, TIMING-MARK often), subnegotiation
    /// (payload may hold CR, LF and escaped IAC), two-byte (IP, AO, AYT, EC, EL among them) or `IAC IAC`.
    private func randomTelnetCommand(using generator: inout SplitMix64) -> [UInt8] {
        switch Int.random(in: 0..<4, using: &generator) {
        case 0:
            let option = Bool.random(using: &generator)
                ? [1, 3, 6, 6, 13, 24, 255].randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            return [Self.iac, UInt8.random(in: 251...254, using: &generator), option]
        case 3:
            return [Self.iac, Self.iac]
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
    private func randomWireInput(maximum: Int, allowTelnet: Bool, using generator: inout SplitMix64) -> [UInt8] {
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

/// An independent, naive model of the telnet semantics over a whole input. It looks ahead in the input instead of
/// keeping a state machine between bytes, keeps the whole current line (no bound), reports `.lineTooLong` the moment
/// the line holds more than the limit, and finds the last scalar for EC by decoding forward from the line's start.
/// EC is only modelled for lines of valid UTF-8 plus escaped 0xFF bytes.
private enum ReferenceTelnet {
    struct Result {
        var events: [TelnetLineParser.Event] = []
        /// Bytes of the unfinished last line (0 when it is already over the limit).
        var pending = 0
    }

    static func run(_ wire: [UInt8], maximum: Int) -> Result {
        var result = Result()
        var current: [UInt8] = []
        var reported = false
        var refused = Set<[UInt8]>()
        func add(_ byte: UInt8) {
            current.append(byte)
            if !reported, current.count > maximum {
                reported = true
                result.events.append(.lineTooLong)
            }
        }
        func endLine() {
            if !reported { result.events.append(.line(current)) }
            current = []
            reported = false
        }
        var index = 0
        func next() -> UInt8? {
            guard index < wire.count else { return nil }
            index += 1
            return wire[index - 1]
        }
        while let byte = next() {
            switch byte {
            case 13:
                endLine()
                if index < wire.count, wire[index] == 10 || wire[index] == 0 { index += 1 }
            case 10:
                endLine()
            case 255:
                guard let command = next() else { break }
                switch command {
                case 255: add(255)
                case 251...254:
                    guard let option = next() else { break }
                    if command == 253, option == 6 {
                        result.events.append(.reply([255, 251, 6]))
                    } else if command == 253 || command == 251, refused.insert([command, option]).inserted {
                        result.events.append(.reply([255, command == 253 ? 252 : 254, option]))
                    }
                case 250:
                    while let payload = next() {
                        if payload == 255, next() == 240 { break }
                    }
                case 244, 245, 248:
                    current = []
                    reported = false
                case 247:
                    if !reported { current.removeLast(lastScalarLength(current)) }
                case 246:
                    result.events.append(.areYouThere)
                default:
                    break
                }
            default:
                add(byte)
            }
        }
        result.pending = reported ? 0 : current.count
        return result
    }

    /// The length of the last scalar, decoding from the start (a lone 0xFF, an escaped IAC, is one).
    private static func lastScalarLength(_ bytes: [UInt8]) -> Int {
        var start = 0
        var index = 0
        while index < bytes.count {
            start = index
            switch bytes[index] {
            case 0xf0...0xf4: index += 4
            case 0xe0...0xef: index += 3
            case 0xc2...0xdf: index += 2
            default: index += 1
            }
        }
        precondition(index == bytes.count, "the model only handles valid UTF-8 lines")
        return bytes.count - start
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
