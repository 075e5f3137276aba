import NIOCore

/// Everything one client is about to be sent, in order: a pure value, so the per-line hot path of a
/// broadcast is one mutation of one stored property (one exclusivity check, not one per field).
///
/// ```
///  enqueue(a) enqueue(b)        reserveReply()=r  enqueue(c)   complete(r, [h1, h2])      take()
///  pending: a+b                 held: [r?, c]                  pending: a+b+h1+h2+c       → a+b+h1+h2+c
/// ```
/// - Lines go into ``pending``, one `ByteBuffer` per tick: the first line is kept as the (shared) buffer
///   it came in, later ones are copied after it. The hub hands it to the channel once per tick.
/// - While a database reply is outstanding its slot holds everything queued after it, so replies keep
///   command order.
/// - Counters count lines and bytes queued for the client (the history row's `lines_out`/`bytes_out`).
struct SessionOutput {
    /// What `enqueue` asks the caller to do.
    enum Effect {
        /// Nothing: the line joined this tick's buffer, or waits behind a reply.
        case none
        /// The first line since the last ``take()``: schedule a flush for this client.
        case scheduleFlush
        /// The tick's buffer passed the byte limit: hand it to the channel now.
        case flushNow
    }

    private enum Slot {
        case ready(ByteBuffer)
        case waiting(UInt64)
    }

    private(set) var lines: Int64 = 0
    private(set) var bytes: Int64 = 0
    private var pending: ByteBuffer?
    private var pendingBytes = 0
    private var held: [Slot] = []
    private var nextReplyID: UInt64 = 0
    private var closed = false
    /// Bytes in one tick's buffer beyond which ``enqueue(_:)`` asks for an immediate flush.
    let flushThreshold: Int

    init(flushThreshold: Int) {
        self.flushThreshold = flushThreshold
    }

    /// Queues one encoded line (with its CRLF).
    mutating func enqueue(_ line: ByteBuffer) -> Effect {
        if closed { return .none }
        if !held.isEmpty {
            held.append(.ready(line))
            return .none
        }
        return append(line)
    }

    private mutating func append(_ line: ByteBuffer) -> Effect {
        let size = line.readableBytes
        lines += 1
        bytes += Int64(size)
        // The size is tracked here rather than read back from `pending` after the copy: that read-after-write
        // of ByteBuffer's packed indices stalled the fan-out loop (perf annotate showed it as the hot spot).
        pendingBytes += size
        guard pending != nil else {
            pending = line
            return .scheduleFlush
        }
        pending!.writeImmutableBuffer(line)
        return pendingBytes >= flushThreshold ? .flushNow : .none
    }

    /// The tick's buffer, emptied.
    mutating func take() -> ByteBuffer? {
        defer {
            pending = nil
            pendingBytes = 0
        }
        return pending
    }

    /// Holds a place for a reply that will arrive later; everything queued after waits behind it.
    mutating func reserveReply() -> UInt64 {
        defer { nextReplyID += 1 }
        held.append(.waiting(nextReplyID))
        return nextReplyID
    }

    /// Fills a reserved place and releases what is ready in front. Returns `nil` if the place was already
    /// filled (the reply timed out first), else the effect for the caller.
    mutating func completeReply(_ id: UInt64, with replyLines: [ByteBuffer]) -> Effect? {
        guard let index = held.firstIndex(where: { if case .waiting(id) = $0 { return true } else { return false } })
        else { return nil }
        held.replaceSubrange(index...index, with: replyLines.map(Slot.ready))
        let readyCount = held.prefix { if case .ready = $0 { return true } else { return false } }.count
        var effect = Effect.none
        for slot in held.prefix(readyCount) {
            guard case .ready(let line) = slot, !closed else { continue }
            switch append(line) {
            case .scheduleFlush: if case .none = effect { effect = .scheduleFlush }
            case .flushNow: effect = .flushNow
            case .none: break
            }
        }
        held.removeFirst(readyCount)
        return effect
    }

    /// Drops everything not yet taken; later lines are ignored.
    mutating func close() {
        closed = true
        held.removeAll()
        pending = nil
        pendingBytes = 0
    }
}

@available(*, unavailable)
extension SessionOutput: Sendable {}
