import NIOCore

/// Builds the tool's outgoing lines straight into a `ByteBuffer`, without going through `String`.
///
/// ```
/// BENCH <client> <seq> <send-time-ns>\r\n
/// BENCH 3 17 81234567890123\r\n
/// ```
enum LineWriter {
    /// Appends one `BENCH` line terminated by CRLF.
    static func writeBenchLine(client: Int, sequence: Int, sendTimeNs: UInt64, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("BENCH ")
        writeDecimal(UInt64(client), to: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        writeDecimal(UInt64(sequence), to: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        writeDecimal(sendTimeNs, to: &buffer)
        buffer.writeStaticString("\r\n")
    }

    /// Appends `value` in decimal ASCII.
    static func writeDecimal(_ value: UInt64, to buffer: inout ByteBuffer) {
        // 20 digits hold UInt64.max; fill from the right, then copy the used tail.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var index = 20
            var rest = value
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(digits)[index..<20]))
        }
    }
}
