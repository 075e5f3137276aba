import NIOCore

extension ByteBuffer {
    /// The opcode of a text frame (RFC 6455 §5.2), what every chat line goes out as.
    public static let webSocketTextOpcode: UInt8 = 0x1

    /// Writes the header of one final, unmasked WebSocket frame — a server's (RFC 6455 §5.2: a server never
    /// masks) — and returns its size. The payload follows it, written by the caller.
    ///
    /// ```
    ///  payload ≤ 125 bytes:     1000 oooo | 0 len7                               2 bytes
    ///  payload ≤ 65 535 bytes:  1000 oooo | 0 126   | len16 (big-endian)         4 bytes
    ///  larger:                  1000 oooo | 0 127   | len64 (big-endian)        10 bytes
    /// ```
    /// `opcode` is the frame's 4-bit opcode (0x1 text, 0x8 close, 0x9 ping, 0xA pong).
    @discardableResult
    public mutating func writeWebSocketFrameHeader(opcode: UInt8, payloadLength: Int) -> Int {
        precondition(opcode & 0xF0 == 0 && payloadLength >= 0, "not a WebSocket opcode or length")
        let first = 0x80 | opcode
        switch payloadLength {
        case 0...125:
            return writeMultipleIntegers(first, UInt8(payloadLength))
        case 126...65_535:
            return writeMultipleIntegers(first, UInt8(126), UInt16(payloadLength))
        default:
            return writeMultipleIntegers(first, UInt8(127), UInt64(payloadLength))
        }
    }

    /// Writes each line of `lines` as one text frame whose payload is the line without its end, the way the
    /// chat page reads lines (one text frame is one line), and returns the bytes written.
    ///
    /// ```
    ///  lines:   * hi\r\n<bob> yo\r\n
    ///  written: 81 04 * hi 81 08 <bob> yo
    /// ```
    /// A line ends at LF; a CR before it is dropped with it. Bytes after the last LF are framed as one more
    /// line (the session writes whole lines only, so there are none).
    @discardableResult
    mutating func writeWebSocketTextFrames(lines: UnsafeRawBufferPointer) -> Int {
        let start = writerIndex
        var lineStart = 0
        while lineStart < lines.count {
            // A rebased buffer counts from 0.
            let lineFeed = UnsafeRawBufferPointer(rebasing: lines[lineStart...]).firstIndex(of: UInt8(ascii: "\n"))
                .map { lineStart + $0 }
            var payloadEnd = lineFeed ?? lines.count
            if lineFeed != nil, payloadEnd > lineStart, lines[payloadEnd - 1] == UInt8(ascii: "\r") { payloadEnd -= 1 }
            let payload = UnsafeRawBufferPointer(rebasing: lines[lineStart..<payloadEnd])
            writeWebSocketFrameHeader(opcode: ByteBuffer.webSocketTextOpcode, payloadLength: payload.count)
            writeBytes(payload)
            lineStart = (lineFeed ?? lines.count - 1) + 1
        }
        return writerIndex - start
    }
}
