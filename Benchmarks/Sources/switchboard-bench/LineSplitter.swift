import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits a byte stream into lines at `\n` (a preceding `\r` stays in the line; callers ignore it).
///
/// ```
/// reads:  | * welcome\r\n<a> BEN | CH 1 2 3\r\n |
/// lines:  "* welcome\r"  "<a> BENCH 1 2 3\r"
/// ```
///
/// Bytes after the last `\n` are kept until the next read. Not thread-safe: one per connection,
/// used on that connection's event loop.
struct LineSplitter {
    private var partial: ByteBuffer?

    /// Calls `body` once per complete line in `partial + incoming`, in order, with the line's bytes
    /// (without the `\n`). The pointer is only valid during the call.
    mutating func feed(_ incoming: ByteBuffer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var buffer: ByteBuffer
        if var partial = self.partial {
            var incoming = incoming
            partial.writeBuffer(&incoming)
            buffer = partial
            self.partial = nil
        } else {
            buffer = incoming
        }
        let consumed = buffer.withUnsafeReadableBytes { bytes -> Int in
            var lineStart = 0
            while lineStart < bytes.count {
                guard let base = bytes.baseAddress,
                    let newline = memchr(base + lineStart, Int32(UInt8(ascii: "\n")), bytes.count - lineStart)
                else { break }
                let lineEnd = base.distance(to: UnsafeRawPointer(newline))
                body(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd]))
                lineStart = lineEnd + 1
            }
            return lineStart
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        if buffer.readableBytes > 0 {
            self.partial = buffer
        }
    }
}
