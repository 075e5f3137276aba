import NIOCore

/// The lines broadcast in this event loop tick, each encoded once into one buffer that every recipient's
/// output refers to by range (``SessionOutput/enqueue(_:of:)``), so a fan-out copies a line once, not once per
/// recipient.
///
/// ```
///  append("<a> hi") = 0..<9   append("<b> yo") = 9..<18   append("* c joined (3 …)") = 18..<…
///  buffer: <a> hi\r\n<b> yo\r\n* c joined (3 …)\r\n
///  a's output: 9..<end        b's output: 0..<9, 18..<end  (nobody is sent their own line)
/// ```
/// At the end of the tick every client written to takes its ranges as slices of ``buffer`` (no copy) — a
/// WebSocket client as slices of ``frames``, the same lines framed once — and the hub calls ``reset()``.
/// Ownership: the hub's, on its event loop.
struct TickLines {
    /// A buffer at most this big is reused for the next tick once nobody else holds it; a bigger one (a
    /// burst) is let go, and so is one a client that is behind still holds slices of.
    static let retainedCapacity = 1 << 20
    /// The smallest buffer a tick starts with.
    static let minimumCapacity = 256
    /// A buffer more than this many times bigger than its tick's lines is not reused: the next tick starts
    /// with one sized like the last, so a quiet tick after a busy one is not a few bytes in a big buffer.
    static let reuseFactor = 4

    private(set) var buffer: ByteBuffer
    /// The same lines as WebSocket text frames, framed when a WebSocket recipient first takes its lines.
    let frames = TickFrames()
    /// Changes at every ``reset()``, so a range from an earlier tick can never be read from this one's bytes.
    private(set) var generation: UInt64 = 0

    init() {
        buffer = ByteBufferAllocator().buffer(capacity: TickLines.minimumCapacity)
    }

    /// Encodes `text` and CRLF once; returns where it is in ``buffer``.
    mutating func append(_ text: String) -> Range<Int> {
        let start = buffer.writerIndex
        buffer.writeChatLine(text)
        return start..<buffer.writerIndex
    }

    /// Starts the next tick. Called once every output that took ranges this tick has taken them.
    mutating func reset() {
        let used = buffer.writerIndex
        guard used > 0 else { return }
        generation &+= 1
        let wanted = min(max(used, TickLines.minimumCapacity), TickLines.retainedCapacity)
        let keepCapacity = min(TickLines.reuseFactor * wanted, TickLines.retainedCapacity)
        frames.reset(keepCapacity: keepCapacity)
        if buffer.capacity <= keepCapacity, buffer.modifyIfUniquelyOwned({ $0.clear() }) != nil {
            return
        }
        // A client behind on reading still holds slices of the old buffer, or it is far bigger than a tick
        // like the last needs (a burst): start a new one.
        buffer = ByteBufferAllocator().buffer(capacity: wanted)
    }
}

@available(*, unavailable)
extension TickLines: Sendable {}
