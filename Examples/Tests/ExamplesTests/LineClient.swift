import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A telnet-ish client on a blocking POSIX socket, for real-socket tests of the examples. Every read waits with a
/// deadline (poll), so a wedged server fails a test instead of hanging it, and a passing test never waits for one.
///
/// Not thread-safe: one thread owns a client.
final class LineClient {
    private var fd: Int32
    private var buffer: [UInt8] = []
    /// The server closed (EOF) or reset the connection.
    private(set) var closedByServer = false

    /// Connects to 127.0.0.1:`port`.
    convenience init(port: Int) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        try self.init(family: AF_INET, address: &address)
    }

    /// Connects to a Unix domain socket.
    convenience init(unixPath: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(unixPath.utf8)) }
        try self.init(family: AF_UNIX, address: &address)
    }

    private init<Address>(family: Int32, address: inout Address) throws {
        fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
        if result != 0 {
            let code = POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED
            Glibc.close(fd)
            throw POSIXError(code)
        }
    }

    deinit { close() }

    /// Sends `text` and CRLF.
    func send(line text: String) {
        send(Array((text + "\r\n").utf8))
    }

    /// Sends every byte (loopback takes them; the servers under test read what they are sent).
    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return }
            offset += written
        }
    }

    /// One line without its CRLF, or nil if the server closed first or `timeout` passed.
    func readLine(timeout: TimeInterval = 20) -> String? {
        readLineBytes(timeout: timeout).map { String(decoding: $0, as: UTF8.self) }
    }

    /// ``readLine(timeout:)`` as the bytes that came (telnet replies included).
    func readLineBytes(timeout: TimeInterval = 20) -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                if line.last == 13 { line.removeLast() }
                return line
            }
            guard !closedByServer, readSome(until: deadline) else { return nil }
        }
    }

    /// Every byte until the server closes; nil if it has not closed by `timeout`.
    func readUntilClosed(timeout: TimeInterval = 20) -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        while !closedByServer {
            guard readSome(until: deadline) else { return closedByServer ? buffer : nil }
        }
        defer { buffer.removeAll() }
        return buffer
    }

    /// ``readUntilClosed(timeout:)`` as text; `<not closed within N s>` if the server did not close.
    func textUntilClosed(timeout: TimeInterval = 20) -> String {
        readUntilClosed(timeout: timeout).map { String(decoding: $0, as: UTF8.self) } ?? "<not closed within \(timeout) s>"
    }

    /// Half-close: the server sees the end of input; we can still read.
    func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes with RST at once (`SO_LINGER` 0): how a killed client's connection ends.
    func abort() {
        guard fd >= 0 else { return }
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Waits (until `deadline`) for input and reads it; false when the deadline passed without any.
    private func readSome(until deadline: Date) -> Bool {
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { return false }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(remaining * 1000) + 1) > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            buffer += chunk[..<count]
        } else {
            closedByServer = true
        }
        return true
    }
}
