import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A blocking telnet-ish client over a real loopback socket: sends bytes, reads CRLF lines with a
/// deadline (the deadline bounds a failing test; passing tests never wait for it).
final class LineClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var isClosedByServer = false

    init(port: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
    }

    /// Connects over a Unix domain socket (`unix:` endpoints).
    init(unixPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(unixPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw POSIXError(.ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }  // stays NUL-terminated
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
    }

    deinit { close(fd) }

    /// Sends `text` as is (add `\r\n` yourself).
    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// Reads one line (without CRLF), or `nil` if the server closed or `timeout` passed.
    func readLine(timeout: TimeInterval = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard fill(until: deadline) else { return nil }
        }
    }

    /// Reads lines until one satisfies `predicate`; returns every line read, the match last.
    func readLines(until predicate: (String) -> Bool, timeout: TimeInterval = 10) -> [String] {
        var lines: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        while let line = readLine(timeout: max(0, deadline.timeIntervalSinceNow)) {
            lines.append(line)
            if predicate(line) { break }
        }
        return lines
    }

    /// Reads the next line and checks it.
    func expect(_ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(readLine(), expected, file: file, line: line)
    }

    /// Reads until the server closes the connection (bounded); returns the lines read.
    func readUntilClosed(timeout: TimeInterval = 10) -> [String] {
        var lines: [String] = []
        while let line = readLine(timeout: timeout) { lines.append(line) }
        return lines
    }

    /// Half-closes: the server sees end of input; we can still read.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Closes with RST instead of FIN.
    func reset() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Shrinks the kernel receive buffer (a slow reader fills up sooner).
    func setReceiveBuffer(_ bytes: Int32) {
        var size = bytes
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    private func fill(until deadline: Date) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
        guard poll(&descriptor, 1, milliseconds) > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 {
            isClosedByServer = true
            return false
        }
        buffer.append(contentsOf: chunk[..<count])
        return true
    }
}
