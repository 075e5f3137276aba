import NIOCore

/// Everything one client is about to be sent, in order: a pure value, so the per-line hot path of a
/// broadcast is one mutation of one stored property (one exclusivity check, not one per field).
///
/// ```
///  enqueue(a) enqueue(b)        reserveReply()=r  enqueue(c)   complete(r, [h1, h2])      take()
///  pending: a+b                 held: [r?, c]                  pending: a+b+h1+h2+c       → a+b+h1+h2+c
/// ```
/// - Lines go into ``pending``, one `ByteBuffer` per tick: the first line is kept as the (shared) buffer
///   it came in, later ones are copied after it. The hub hands it to the channel once per tick, and only
///   then: nothing here ever asks for an immediate flush, because a flush inside a fan-out can make NIO
///   close or read that socket right there, re-entering a session (README, "Hostile load").
/// - While a database reply is outstanding its slot holds everything queued after it, so replies keep
///   command order.
/// - Counters count lines and bytes queued for the client (the history row's `lines_out`/`bytes_out`).
struct SessionOutput {
    private enum Slot {
        case ready(ByteBuffer, countsAsLine: Bool)
        case waiting(UInt64)
    }

    private(set) var lines: Int64 = 0
    private(set) var bytes: Int64 = 0
    private var pending: ByteBuffer?
    /// Bytes in ``pending``; tracked here rather than read back from `pending` after the copy: that
    /// read-after-write of ByteBuffer's packed indices stalled the fan-out loop (perf annotate showed it).
    private(set) var pendingBytes = 0
    private var held: [Slot] = []
    private var nextReplyID: UInt64 = 0
    /// Replies reserved and not yet completed.
    private(set) var outstandingReplies = 0
    private(set) var isClosed = false

    init() {}

    /// Queues one encoded line (with its CRLF), or raw protocol bytes (telnet replies: `countsAsLine`
    /// false, counted in ``bytes`` only). Returns `true` when this is the first output since the last
    /// ``take()``: the caller must then make sure the hub flushes this client at the end of the tick.
    mutating func enqueue(_ line: ByteBuffer, countsAsLine: Bool = true) -> Bool {
        if isClosed { return false }
        if !held.isEmpty {
            held.append(.ready(line, countsAsLine: countsAsLine))
            return false
        }
        return append(line, countsAsLine: countsAsLine)
    }

    private mutating func append(_ line: ByteBuffer, countsAsLine: Bool) -> Bool {
        let size = line.readableBytes
        if countsAsLine { lines += 1 }
        bytes += Int64(size)
        pendingBytes += size
        guard pending != nil else {
            pending = line
            return true
        }
        pending!.writeImmutableBuffer(line)
        return false
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
        outstandingReplies += 1
        return nextReplyID
    }

    /// Fills a reserved place and releases what is ready in front. Returns `nil` if the place was already
    /// filled (the reply timed out first), else whether the caller must schedule a flush (as ``enqueue``).
    mutating func completeReply(_ id: UInt64, with replyLines: [ByteBuffer]) -> Bool? {
        guard let index = held.firstIndex(where: { if case .waiting(id) = $0 { return true } else { return false } })
        else { return nil }
        outstandingReplies -= 1
        held.replaceSubrange(index...index, with: replyLines.map { Slot.ready($0, countsAsLine: true) })
        let readyCount = held.prefix { if case .ready = $0 { return true } else { return false } }.count
        var needsFlush = false
        for slot in held.prefix(readyCount) {
            guard case .ready(let line, let countsAsLine) = slot, !isClosed else { continue }
            if append(line, countsAsLine: countsAsLine) { needsFlush = true }
        }
        held.removeFirst(readyCount)
        return needsFlush
    }

    /// Drops everything not yet taken; later lines are ignored.
    mutating func close() {
        isClosed = true
        held.removeAll()
        outstandingReplies = 0
        pending = nil
        pendingBytes = 0
    }
}

@available(*, unavailable)
extension SessionOutput: Sendable {}
