/// Telnet-aware line framing with a hard length limit, as a pure state machine: bytes in, events out.
///
/// ```
///   input bytes:   h i \r \n  y o \n  a \r \0  IAC DO 1  b \r  \n
///   events:        .line("hi")  .line("yo")  .line("a")   .line("b")
///                  (IAC DO 1 is telnet negotiation: removed, never shown)
/// ```
/// - A line ends at CRLF, LF, CR NUL, or a lone CR (the byte after a CR is swallowed if it is LF or NUL).
/// - Telnet commands are removed: `IAC WILL/WONT/DO/DONT opt`, `IAC SB … IAC SE`, and two-byte commands
///   (`IAC NOP`, `IAC AYT`, …). `IAC IAC` is a literal 0xFF data byte.
/// - A line's content may hold at most ``maximumLineLength`` bytes (the terminator does not count). When a
///   line grows past it, ``Event/lineTooLong`` is emitted at once, and the rest of that line, up to its
///   terminator, is discarded. So the parser never buffers more than ``maximumLineLength`` bytes, even for
///   an endless line with no newline (unlike `LineBasedFrameDecoder`, which has no limit).
/// - Telnet subnegotiation payloads are discarded as they arrive, so they cannot grow memory either.
///
/// Not thread-safe: owned by one connection's handler on its event loop.
public struct TelnetLineParser {
    /// What the parser found.
    public enum Event: Equatable, Sendable {
        /// A complete line's content, without its terminator (raw bytes: not yet decoded or sanitised).
        case line([UInt8])
        /// A line exceeded the limit; it is being dropped.
        case lineTooLong
    }

    private enum State {
        case data
        case afterCR
        case command  // after IAC
        case option  // after IAC WILL/WONT/DO/DONT
        case subnegotiation  // after IAC SB
        case subnegotiationCommand  // after IAC inside SB
    }

    static let iac: UInt8 = 255
    static let se: UInt8 = 240
    static let sb: UInt8 = 250
    static let will: UInt8 = 251
    static let dont: UInt8 = 254
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let nul: UInt8 = 0

    /// The most content bytes a line may have.
    public let maximumLineLength: Int
    private var state = State.data
    private var line: [UInt8] = []
    private var discarding = false

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
                switch byte {
                case Self.iac:
                    append(Self.iac, emit)
                    state = .data
                case Self.will...Self.dont:
                    state = .option
                case Self.sb:
                    state = .subnegotiation
                default:
                    state = .data  // NOP, AYT, GA, … : dropped
                }
            case .option:
                state = .data
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

    private mutating func endLine(_ emit: (Event) -> Void) {
        if discarding {
            discarding = false
            return
        }
        let finished = line
        line.removeAll(keepingCapacity: true)
        emit(.line(finished))
    }
}

@available(*, unavailable)
extension TelnetLineParser: Sendable {}
