/// Telnet-aware line framing with a hard length limit, as a pure state machine: bytes in, events out.
///
/// ```
///   input bytes:   h i \r \n  y o \n  a b IAC IP c \r \0  IAC DO 1        IAC DO 6         d é IAC EC \n
///   events:        .line("hi")  .line("yo")  .line("c")   .reply(WONT 1)  .reply(WILL 6)   .line("d")
///                  (IAC IP drops the partial "ab"; IAC EC erases the scalar "é", both of its bytes)
/// ```
/// - A line ends at CRLF, LF, CR NUL, or a lone CR (the byte after a CR is swallowed if it is LF or NUL).
/// - Telnet commands never reach a line. What they do (RFC 854, RFC 860):
///
///   | client sends                 | parser                                                          |
///   |------------------------------|-----------------------------------------------------------------|
///   | `IAC DO TIMING-MARK` (6)     | `.reply(IAC WILL 6)`, every time (telnet's Ctrl-C waits for it) |
///   | `IAC DO x` (x ≠ 6)           | `.reply(IAC WONT x)`, the first time only                       |
///   | `IAC WILL x`                 | `.reply(IAC DONT x)`, the first time only                       |
///   | `IAC WONT x`, `IAC DONT x`   | nothing: we are already in that state                           |
///   | `IAC IP`, `IAC AO`, `IAC EL` | drops the partial line (an overlong one stops being dropped)    |
///   | `IAC EC`                     | erases the partial line's last UTF-8 scalar (all its bytes)     |
///   | `IAC AYT`                    | `.areYouThere`                                                  |
///   | `IAC SB … IAC SE`            | discarded as it arrives                                         |
///   | `IAC IAC`                    | a literal 0xFF data byte                                        |
///   | `IAC` anything else          | discarded (NOP, DM, BRK, GA, a stray SE, …)                     |
///
///   Each option is refused at most once per connection and direction (a 256-bit set each for `DO` and
///   `WILL`), so a client that keeps asking cannot start a negotiation loop.
/// - A line's content may hold at most ``maximumLineLength`` bytes (the terminator does not count). When a
///   line grows past it, ``Event/lineTooLong`` is emitted at once, and the rest of that line, up to its
///   terminator, is discarded. So the parser never buffers more than ``maximumLineLength`` bytes, even for
///   an endless line with no newline (unlike `LineBasedFrameDecoder`, which has no limit).
/// - Telnet subnegotiation payloads are discarded as they arrive, so they cannot grow memory either.
///
/// Not thread-safe: owned by one connection's handler on its event loop.
public struct TelnetLineParser {
    /// What the parser found, in input order.
    public enum Event: Equatable, Sendable {
        /// A complete line's content, without its terminator (raw bytes: not yet decoded or sanitised).
        case line([UInt8])
        /// A line exceeded the limit; it is being dropped.
        case lineTooLong
        /// Telnet bytes to send back to the client as they are: not encoded, sanitised or reordered after
        /// output produced by events that came later. A negotiation answer (`IAC WILL/WONT/DONT opt`).
        case reply([UInt8])
        /// The client sent `IAC AYT` (Are You There): answer it with a visible line.
        case areYouThere
    }

    private enum State {
        case data
        case afterCR
        case command  // after IAC
        case option(verb: UInt8)  // after IAC WILL/WONT/DO/DONT
        case subnegotiation  // after IAC SB
        case subnegotiationCommand  // after IAC inside SB
    }

    /// 256 bits: one per telnet option. Inline storage, so a parser allocates nothing for it.
    private struct OptionSet256 {
        private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

        /// Adds `option`; `false` if it was already there.
        mutating func insert(_ option: UInt8) -> Bool {
            let bit = UInt64(1) << UInt64(option & 63)
            func insert(into word: inout UInt64) -> Bool {
                defer { word |= bit }
                return word & bit == 0
            }
            switch option >> 6 {
            case 0: return insert(into: &words.0)
            case 1: return insert(into: &words.1)
            case 2: return insert(into: &words.2)
            default: return insert(into: &words.3)
            }
        }
    }

    static let iac: UInt8 = 255
    static let se: UInt8 = 240
    static let ip: UInt8 = 244
    static let ao: UInt8 = 245
    static let ayt: UInt8 = 246
    static let ec: UInt8 = 247
    static let el: UInt8 = 248
    static let sb: UInt8 = 250
    static let will: UInt8 = 251
    static let wont: UInt8 = 252
    static let `do`: UInt8 = 253
    static let dont: UInt8 = 254
    static let timingMark: UInt8 = 6
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let nul: UInt8 = 0

    /// The most content bytes a line may have.
    public let maximumLineLength: Int
    private var state = State.data
    private var line: [UInt8] = []
    private var discarding = false
    /// Options we answered `WONT` to / `DONT` to: never answered again.
    private var refusedDo = OptionSet256()
    private var refusedWill = OptionSet256()

    public init(maximumLineLength: Int) {
        precondition(maximumLineLength > 0, "maximumLineLength must be positive")
        self.maximumLineLength = maximumLineLength
    }

    /// Bytes of an unfinished line currently held (at most ``maximumLineLength``).
    public var bufferedByteCount: Int { line.count }

    /// Feeds bytes; calls `emit` for each event, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (Event) -> Void) {
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            index += 1
            switch state {
            case .data:
                if byte == Self.cr {
                    endLine(emit)
                    state = .afterCR
                } else if byte == Self.lf {
                    endLine(emit)
                } else if byte == Self.iac {
                    state = .command
                } else {
                    append(byte, emit)
                    // Fast path: copy the run of ordinary bytes that follows in one go.
                    var end = index
                    while end < count {
                        let next = bytes[end]
                        if next == Self.cr || next == Self.lf || next == Self.iac { break }
                        end += 1
                    }
                    if end > index {
                        appendRun(UnsafeRawBufferPointer(rebasing: bytes[index..<end]), emit)
                        index = end
                    }
                }
            case .afterCR:
                state = .data
                if byte == Self.lf || byte == Self.nul { continue }
                index -= 1  // not part of the terminator: process it as data
            case .command:
                state = .data
                switch byte {
                case Self.iac: append(Self.iac, emit)
                case Self.will...Self.dont: state = .option(verb: byte)
                case Self.sb: state = .subnegotiation
                case Self.ip, Self.ao, Self.el: dropPartialLine()
                case Self.ec: eraseCharacter()
                case Self.ayt: emit(.areYouThere)
                default: break  // NOP, DM, BRK, GA, a stray SE, …: nothing to do
                }
            case .option(let verb):
                state = .data
                negotiate(verb, byte, emit)
            case .subnegotiation:
                if byte == Self.iac { state = .subnegotiationCommand }
            case .subnegotiationCommand:
                state = byte == Self.se ? .data : .subnegotiation
            }
        }
    }

    /// Convenience for tests and small inputs.
    public mutating func feed(_ bytes: [UInt8]) -> [Event] {
        var events: [Event] = []
        bytes.withUnsafeBytes { feed($0) { events.append($0) } }
        return events
    }

    private mutating func append(_ byte: UInt8, _ emit: (Event) -> Void) {
        if discarding { return }
        if line.count >= maximumLineLength {
            overflow(emit)
            return
        }
        line.append(byte)
    }

    private mutating func appendRun(_ run: UnsafeRawBufferPointer, _ emit: (Event) -> Void) {
        if discarding { return }
        if line.count + run.count > maximumLineLength {
            overflow(emit)
            return
        }
        line.append(contentsOf: run)
    }

    private mutating func overflow(_ emit: (Event) -> Void) {
        discarding = true
        line.removeAll(keepingCapacity: false)
        emit(.lineTooLong)
    }

    private mutating func negotiate(_ verb: UInt8, _ option: UInt8, _ emit: (Event) -> Void) {
        switch verb {
        case Self.do where option == Self.timingMark:
            // RFC 860: the mark tells the client all output before it has been sent; answer each one.
            emit(.reply([Self.iac, Self.will, option]))
        case Self.do:
            if refusedDo.insert(option) { emit(.reply([Self.iac, Self.wont, option])) }
        case Self.will:
            if refusedWill.insert(option) { emit(.reply([Self.iac, Self.dont, option])) }
        default:
            break  // WONT/DONT: we never agreed to anything, so we are already there
        }
    }

    /// IP, AO, EL: the user abandoned the line being typed. An overlong line being dropped ends here too, so
    /// what comes next is a fresh line (its `.lineTooLong` was already reported).
    private mutating func dropPartialLine() {
        line.removeAll(keepingCapacity: true)
        discarding = false
    }

    /// EC: removes the last UTF-8 scalar (a lead byte and its continuation bytes), or one byte when the tail is
    /// not UTF-8. Nothing to do while an overlong line is being dropped: erasing cannot bring it back.
    private mutating func eraseCharacter() {
        guard !discarding, let last = line.indices.last else { return }
        var start = last
        while start > 0, last - start < 3, line[start] & 0xC0 == 0x80 { start -= 1 }
        // Only a lead byte whose scalar is long enough owns the continuation bytes after it (a truncated scalar
        // counts too: the decoder shows it as one U+FFFD); otherwise each stray byte is its own U+FFFD.
        let scalarLength: Int
        switch line[start] {
        case 0xC2...0xDF: scalarLength = 2
        case 0xE0...0xEF: scalarLength = 3
        case 0xF0...0xF4: scalarLength = 4
        default: scalarLength = 1
        }
        if last - start >= scalarLength { start = last }
        line.removeSubrange(start...)
    }

    private mutating func endLine(_ emit: (Event) -> Void) {
        if discarding {
            discarding = false
            return
        }
        // An exact-size copy, so a queued line holds its own length and not the capacity of the longest line
        // seen so far; `line` keeps its buffer for the next one.
        let finished = [UInt8](unsafeUninitializedCapacity: line.count) { buffer, count in
            count = buffer.initialize(fromContentsOf: line)
        }
        line.removeAll(keepingCapacity: true)
        emit(.line(finished))
    }
}

@available(*, unavailable)
extension TelnetLineParser: Sendable {}
