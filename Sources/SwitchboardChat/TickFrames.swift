import NIOCore

/// This tick's broadcast lines again, each as one WebSocket text frame (final, unmasked, the line without its
/// CRLF): what WebSocket recipients take slices of, as telnet recipients take slices of ``TickLines/buffer``,
/// so a WebSocket fan-out frames a line once, not once per recipient.
///
/// ```
///  lines:  <a> hi\r\n<b> yo\r\n* c joined (3 …)\r\n          a recipient's range of the lines: 8..<end
///  frames: 81 06 <a> hi 81 06 <b> yo 81 7E 00 9A * c joined …    the same lines here:      8..<end'
///          (a payload over 125 bytes has a 2-byte length, over 65 535 an 8-byte one)
/// ```
/// Built on first use in a tick, so a tick with no WebSocket recipient costs nothing; lines broadcast after that
/// (a leave notice while the tick's closes run) are framed at the next use. Every range the hub hands out
/// starts and ends at a line boundary, so it maps to one range here.
///
/// A class held by ``TickLines``: the hub hands its lines to each flush by value, and frames built for the
/// tick's first WebSocket recipient serve the others. Ownership: the hub's, on its event loop.
final class TickFrames {
    /// The boundary lists keep their capacity for the next tick up to this many lines; a burst's are let go.
    static let retainedBoundaries = 4096

    private(set) var buffer = ByteBuffer()
    /// Line boundaries framed so far, ascending: `plainBoundaries[i]` in the lines' buffer is
    /// `framedBoundaries[i]` in ``buffer``.
    private var plainBoundaries: [Int] = [0]
    private var framedBoundaries: [Int] = [0]

    /// The range of ``buffer`` that holds the lines at `plain` of `lines` (this tick's ``TickLines/buffer``),
    /// framing what was added to it since the last call.
    func range(of plain: Range<Int>, in lines: ByteBuffer) -> Range<Int> {
        if plain.upperBound > plainBoundaries[plainBoundaries.count - 1] { frame(lines) }
        return framedOffset(plain.lowerBound)..<framedOffset(plain.upperBound)
    }

    private func framedOffset(_ plain: Int) -> Int {
        var low = 0
        var high = plainBoundaries.count - 1
        while low < high {
            let middle = (low + high) / 2
            if plainBoundaries[middle] < plain { low = middle + 1 } else { high = middle }
        }
        assert(plainBoundaries[low] == plain, "a range of the tick's lines that is not whole lines")
        return framedBoundaries[low]
    }

    /// Frames the lines from the last boundary to the end of `lines`.
    private func frame(_ lines: ByteBuffer) {
        let from = plainBoundaries[plainBoundaries.count - 1]
        let to = lines.writerIndex
        // Same size when a line's payload is at most 125 bytes (a 2-byte header for the CRLF), else a few more.
        buffer.reserveCapacity(minimumWritableBytes: to - from + 16)
        lines.withUnsafeReadableBytes { readable in
            let bytes = UnsafeRawBufferPointer(rebasing: readable[(from - lines.readerIndex)...])
            var lineStart = 0
            while lineStart < bytes.count {
                let lineEnd = UnsafeRawBufferPointer(rebasing: bytes[lineStart...])
                    .firstIndex(of: UInt8(ascii: "\n")).map { lineStart + $0 + 1 } ?? bytes.count
                buffer.writeWebSocketTextFrames(lines: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd]))
                lineStart = lineEnd
                plainBoundaries.append(from + lineEnd)
                framedBoundaries.append(buffer.writerIndex)
            }
        }
    }

    /// Starts the next tick (``TickLines/reset()``). The buffer is kept for reuse on the terms the lines' is
    /// (`keepCapacity`), and only when no recipient still holds slices of it.
    func reset(keepCapacity: Int) {
        guard plainBoundaries.count > 1 else { return }
        let keepBoundaries = plainBoundaries.capacity <= TickFrames.retainedBoundaries
        plainBoundaries.removeAll(keepingCapacity: keepBoundaries)
        plainBoundaries.append(0)
        framedBoundaries.removeAll(keepingCapacity: keepBoundaries)
        framedBoundaries.append(0)
        if buffer.capacity <= keepCapacity, buffer.modifyIfUniquelyOwned({ $0.clear() }) != nil { return }
        buffer = ByteBuffer()
    }
}

@available(*, unavailable)
extension TickFrames: Sendable {}
