import NIOCore

/// Everything one client is about to be sent, in order: a pure value, so the per-line hot path of a
/// broadcast is one mutation of one stored property (one exclusivity check, not one per field).
///
/// ```
///  enqueue(a) enqueue(5..<9, of: tick)   reserveReply()=r  enqueue(c)   complete(r, [h1, h2])   take(sharing: tick)
///  pieces: a | tick[5..<9]               held: [r?, c]                  pieces: … | h1+h2+c       → a, tick[5..<9], h1+h2+c
/// ```
/// - A broadcast line is not copied here: it is a range of the hub's ``TickLines``, and consecutive lines of
///   the tick extend one range. ``take(sharing:framing:_:)`` hands those ranges to the channel as slices of the
///   tick's buffer (a WebSocket's as slices of the tick's frames). Lines only this client gets (replies,
///   notices, private messages) are copied into one plain byte array per tick (appending to an array is a
///   bounds check and a `memcpy`; appending to a `ByteBuffer` cost several times that per line in the fan-out
///   profile), and framed at the take for a WebSocket.
/// - The hub takes a client's output once per tick, and only then: nothing here ever asks for an immediate
///   flush, because a flush inside a fan-out can make NIO close or read that socket right there, re-entering a
///   session (README, "Hostile load").
/// - While a database reply is outstanding its slot holds everything queued after it, so replies keep
///   command order.
/// - Counters count lines and bytes queued for the client (the history row's `lines_out`/`bytes_out`), as the
///   chat encodes lines (UTF-8 and CRLF) whatever the framing.
struct SessionOutput {
    private enum Slot {
        case ready(ByteBuffer, countsAsLine: Bool)
        case waiting(UInt64)
    }

    /// A run of bytes to send: a range of ``own`` or of the tick's shared buffer.
    private struct Piece {
        var range: Range<Int>
        var isShared: Bool
    }

    private(set) var lines: Int64 = 0
    private(set) var bytes: Int64 = 0
    /// What is queued, in order: ``pieces``, then ``run``.
    private var pieces: [Piece] = []
    /// The newest range of broadcast lines, still growing. Kept out of ``pieces`` so that the per-line hot path
    /// of a fan-out touches this value only, not an array of its own in another part of memory.
    private var run: Range<Int> = 0..<0
    private var own: [UInt8] = []
    /// The ``TickLines/generation`` the shared pieces belong to.
    private var sharedGeneration: UInt64 = 0
    /// Bytes queued for this tick and not yet taken.
    private(set) var pendingBytes = 0
    /// The part of ``pendingBytes`` that is ranges of the tick's shared buffer.
    private var sharedBytes = 0
    /// Shared bytes are sent as slices of the tick's buffer only when they are at least this fraction of
    /// its capacity (else copied): a slice keeps the whole buffer alive while the client is behind, so this
    /// bounds what a slow reader can hold to a few times what it is owed.
    static let sliceFraction = 4
    /// Everything queued after the first reply still waiting (so empty exactly when ``outstandingReplies``
    /// is 0).
    private var held: [Slot] = []
    private var nextReplyID: UInt64 = 0
    /// Replies reserved and not yet completed.
    private(set) var outstandingReplies = 0
    private(set) var isClosed = false

    init() {}

    /// Queues one encoded line (with its CRLF), or raw protocol bytes (telnet replies: `countsAsLine`
    /// false, counted in ``bytes`` only). Returns `true` when this is the first output since the last
    /// take: the caller must then make sure the hub flushes this client at the end of the tick.
    mutating func enqueue(_ line: UnsafeRawBufferPointer, countsAsLine: Bool = true) -> Bool {
        if isClosed { return false }
        if outstandingReplies > 0 {
            held.append(.ready(ByteBuffer(bytes: line), countsAsLine: countsAsLine))
            return false
        }
        return append(line, countsAsLine: countsAsLine)
    }

    /// ``enqueue(_:countsAsLine:)`` for a line in a `ByteBuffer`.
    mutating func enqueue(_ line: ByteBuffer, countsAsLine: Bool = true) -> Bool {
        line.withUnsafeReadableBytes { enqueue($0, countsAsLine: countsAsLine) }
    }

    /// Queues the broadcast line at `range` of `tick` without copying it: the hot path of fan-out. Returns
    /// `true` as ``enqueue(_:countsAsLine:)`` does.
    mutating func enqueue(_ range: Range<Int>, of tick: TickLines) -> Bool {
        if isClosed { return false }
        if outstandingReplies > 0 {
            let line = tick.buffer.withUnsafeReadableBytes { ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: $0[range])) }
            held.append(.ready(line, countsAsLine: true))
            return false
        }
        if sharedGeneration != tick.generation { startGeneration(tick.generation) }
        lines += 1
        bytes += Int64(range.count)
        let first = pendingBytes == 0
        pendingBytes += range.count
        sharedBytes += range.count
        if !run.isEmpty && run.upperBound == range.lowerBound {
            run = run.lowerBound..<range.upperBound
        } else {
            closeRun()
            run = range
        }
        return first
    }

    /// Moves the growing range of broadcast lines into ``pieces``: something else comes after it.
    private mutating func closeRun() {
        guard !run.isEmpty else { return }
        pieces.append(Piece(range: run, isShared: true))
        run = 0..<0
    }

    /// Shared pieces of an earlier tick were never taken. The hub takes every output it wrote to before it
    /// resets the tick, so this does not happen; if it did, those bytes are gone and must not be sent.
    private mutating func startGeneration(_ generation: UInt64) {
        if sharedBytes > 0 {
            assertionFailure("a client's broadcast lines outlived their tick")
            pieces.removeAll { $0.isShared }
            run = 0..<0
            pendingBytes -= sharedBytes
            sharedBytes = 0
        }
        sharedGeneration = generation
    }

    private mutating func append(_ line: UnsafeRawBufferPointer, countsAsLine: Bool) -> Bool {
        if countsAsLine { lines += 1 }
        bytes += Int64(line.count)
        let first = pendingBytes == 0
        pendingBytes += line.count
        closeRun()
        own.append(contentsOf: line)
        if let last = pieces.last, !last.isShared {
            pieces[pieces.count - 1].range = last.range.lowerBound..<own.count
        } else {
            pieces.append(Piece(range: (own.count - line.count)..<own.count, isShared: false))
        }
        return first
    }

    /// Hands this tick's bytes to `write`, in order, and empties the output: own bytes as one new buffer,
    /// broadcast lines as slices of `tick`'s buffer (copied instead when they are a small part of it). With
    /// `framing` `.webSocketText` every line goes as one WebSocket text frame: broadcast lines as slices of the
    /// tick's frames (``TickFrames``, framed once for every WebSocket recipient), own lines framed here.
    mutating func take(sharing tick: TickLines, framing: ChatTransport.Framing = .crlf, _ write: (ByteBuffer) -> Void) {
        if sharedGeneration != tick.generation { startGeneration(tick.generation) }
        guard pendingBytes > 0 else { return }
        closeRun()
        switch framing {
        case .crlf:
            emit(shared: tick.buffer, own: own.isEmpty ? nil : ByteBuffer(bytes: own), sharedBytes: sharedBytes,
                 totalBytes: pendingBytes, write)
        case .webSocketText:
            takeFrames(sharing: tick, write)
        }
        pieces.removeAll(keepingCapacity: true)
        // Own lines (replies, notices, private messages) are the rare case — broadcast lines are ranges of
        // the tick's buffer — so the array is let go rather than kept by every idle client after its welcome.
        own.removeAll()
        pendingBytes = 0
        sharedBytes = 0
    }

    /// ``take(sharing:framing:_:)`` for a WebSocket: maps each shared piece to its frames in the tick's
    /// ``TickFrames`` and frames own pieces into one new buffer, then emits them in order.
    private mutating func takeFrames(sharing tick: TickLines, _ write: (ByteBuffer) -> Void) {
        // A frame header takes the CRLF's 2 bytes, or 2 or 8 more when the line is over 125 or 65 535 bytes.
        var framedOwn = own.isEmpty ? nil : ByteBufferAllocator().buffer(capacity: own.count + 16)
        var framedShared = 0
        var total = 0
        for index in pieces.indices {
            let range = pieces[index].range
            if pieces[index].isShared {
                pieces[index].range = tick.frames.range(of: range, in: tick.buffer)
                framedShared += pieces[index].range.count
            } else {
                // Own pieces are ranges of `own`, so `framedOwn` exists here.
                let start = framedOwn?.writerIndex ?? 0
                own.withUnsafeBytes { bytes in
                    _ = framedOwn?.writeWebSocketTextFrames(lines: UnsafeRawBufferPointer(rebasing: bytes[range]))
                }
                pieces[index].range = start..<(framedOwn?.writerIndex ?? 0)
            }
            total += pieces[index].range.count
        }
        emit(shared: tick.frames.buffer, own: framedOwn, sharedBytes: framedShared, totalBytes: total, write)
    }

    /// Writes ``pieces`` (ranges of `shared` or of `own`) in order: as slices, or copied into one buffer when
    /// the shared ones are a small part of `shared` (a slice keeps the whole buffer alive while the client is
    /// behind).
    private func emit(
        shared: ByteBuffer, own: ByteBuffer?, sharedBytes: Int, totalBytes: Int, _ write: (ByteBuffer) -> Void
    ) {
        let slices = pieces.lazy.compactMap { piece in
            (piece.isShared ? shared : own)?.getSlice(at: piece.range.lowerBound, length: piece.range.count)
        }
        if sharedBytes > 0 && sharedBytes * SessionOutput.sliceFraction < shared.capacity {
            var copy = ByteBufferAllocator().buffer(capacity: totalBytes)
            for slice in slices { copy.writeImmutableBuffer(slice) }
            write(copy)
        } else {
            for slice in slices { write(slice) }
        }
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
            if line.withUnsafeReadableBytes({ append($0, countsAsLine: countsAsLine) }) { needsFlush = true }
        }
        held.removeFirst(readyCount)
        return needsFlush
    }

    /// Drops everything not yet taken; later lines are ignored.
    mutating func close() {
        isClosed = true
        held.removeAll()
        outstandingReplies = 0
        pieces = []
        run = 0..<0
        own = []
        pendingBytes = 0
        sharedBytes = 0
    }
}

@available(*, unavailable)
extension SessionOutput: Sendable {}
