import NIOCore
import SwitchboardProtocol

/// A session's input not yet worked off, in order, bounded in bytes.
///
/// ```
///  append ─▶ [ line | line | reply | line … ] ─▶ first / removeFirst (one at a time, as the hub allows)
///             ≤ maximumBytes: what does not fit is dropped, with the rest of that read, and said once
/// ```
/// The bound holds whatever the client does: telnet's end of input (a half-close) reads everything the kernel
/// holds at once, whatever back-pressure says, so the queue may not trust reads to be small.
///
/// Ownership: a value inside its session, on that session's event loop.
struct InboundQueue {
    /// Input held, at most; more is dropped.
    static let maximumBytes = 512 * 1024

    /// What ``append(_:)`` did.
    enum Appended: Equatable {
        case queued
        /// Dropped; `first` when this is the first drop since the queue was last empty (the client is told).
        case dropped(first: Bool)
    }

    /// Made at the first input, not with the session: most connections held open sit idle, and an empty
    /// `CircularBuffer` already holds room for 16 (288 bytes, about 8 % of an idle connection's memory).
    /// Let go again when it empties after growing past ``keptCapacity`` (a burst).
    private var events: CircularBuffer<LineInput>?
    private(set) var bytes = 0
    /// Dropping the rest of the current read (so what is kept stays in the order it was sent).
    private var droppingThisRead = false
    /// The client was told of dropped input since the queue was last empty.
    private var told = false

    /// The room kept once input has come: a few lines, grown as needed.
    static let initialCapacity = 4
    static let keptCapacity = 16

    var isEmpty: Bool { events?.isEmpty ?? true }
    /// Lines the queue has room for without growing (0 before the first input and after a burst).
    var capacity: Int { events?.capacity ?? 0 }
    var first: LineInput? { events?.first }

    /// Queues `input` if it fits (and nothing of this read was dropped before it).
    mutating func append(_ input: LineInput) -> Appended {
        let size = InboundQueue.size(of: input)
        guard !droppingThisRead, bytes + size <= InboundQueue.maximumBytes else {
            droppingThisRead = true
            defer { told = true }
            return .dropped(first: !told)
        }
        if events == nil { events = CircularBuffer(initialCapacity: InboundQueue.initialCapacity) }
        events?.append(input)
        bytes += size
        return .queued
    }

    /// The read is over: the next one may queue again (if it fits).
    mutating func readComplete() {
        droppingThisRead = false
    }

    mutating func removeFirst() {
        guard let removed = events?.popFirst() else { return }
        bytes -= InboundQueue.size(of: removed)
        guard let events, events.isEmpty else { return }
        told = false
        if events.capacity > InboundQueue.keptCapacity { self.events = nil }
    }

    mutating func removeAll() {
        events = nil
        bytes = 0
        told = false
    }

    private static func size(of input: LineInput) -> Int {
        switch input {
        case .line(let bytes), .reply(let bytes): return bytes.count + 1
        case .lineTooLong, .areYouThere, .received: return 1
        }
    }
}
