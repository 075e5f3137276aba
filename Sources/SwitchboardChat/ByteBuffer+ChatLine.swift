import NIOCore

extension ByteBuffer {
    /// Writes `line` as a telnet client receives it: its UTF-8, then CRLF. The one place a line is encoded,
    /// for lines a client gets alone and for a tick's shared broadcast buffer alike. Returns the bytes written.
    @discardableResult
    mutating func writeChatLine(_ line: String) -> Int {
        writeString(line) + writeStaticString("\r\n")
    }
}
