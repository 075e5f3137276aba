import Foundation
import NIOConcurrencyHelpers
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A telnet client for the end-to-end tests on a raw, non-blocking POSIX socket over loopback (TCP) or a Unix
/// domain socket: the one client every end-to-end test uses, polite or hostile.
///
/// It never blocks without a deadline: every send and read polls with a bound, so a wedged server fails a
/// test instead of hanging it, and a passing test never waits for a deadline. It can also do what
/// well-behaved clients do not: abort with RST (`SO_LINGER` 0), half-close, stop reading, send partial
/// writes.
///
/// Not thread-safe: one thread owns a client.
final class LineClient {
    private(set) var fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    /// The server closed (EOF) or reset the connection.
    private(set) var isClosedByServer = false
    /// Bytes received so far (including those still buffered).
    private(set) var bytesReceived = 0

    /// Starts a non-blocking connect to 127.0.0.1:`port`, from `source` (another loopback address such as
    /// 127.0.0.2, so the server sees a different client address) or the default; the connection may still
    /// be in progress.
    init(connectingTo port: Int, from source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                let code = POSIXErrorCode(rawValue: errno) ?? .EADDRNOTAVAIL
                Glibc.close(fd)
                throw POSIXError(code)
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 && errno != EINPROGRESS {
            let code = POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED
            Glibc.close(fd)
            throw POSIXError(code)
        }
    }

    /// Connects to 127.0.0.1:`port` (from `source`, if given) and waits (bounded) until the connection is established; throws
    /// (`ECONNREFUSED` when nothing listens) otherwise.
    convenience init(port: Int, from source: String? = nil, timeout: TimeInterval = 10) throws {
        try self.init(connectingTo: port, from: source)
        try waitUntilConnected(timeout: timeout)
    }

    /// Connects over a Unix domain socket (`unix:` endpoints).
    init(unixPath: String, timeout: TimeInterval = 10) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(unixPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw POSIXError(.ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }  // stays NUL-terminated
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 && errno != EINPROGRESS && errno != EAGAIN {
            let code = POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED
            Glibc.close(fd)
            throw POSIXError(code)
        }
        try waitUntilConnected(timeout: timeout)
    }

    private func waitUntilConnected(timeout: TimeInterval) throws {
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&descriptor, 1, Int32(timeout * 1000)) > 0 else {
            close()
            throw POSIXError(.ETIMEDOUT)
        }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        if error != 0 {
            close()
            throw POSIXError(POSIXErrorCode(rawValue: error) ?? .ECONNREFUSED)
        }
    }

    deinit { close() }

    var isOpen: Bool { fd >= 0 }

    /// This end's TCP port (what the server logs and records as the peer's port); 0 for Unix sockets.
    var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let found = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard found, address.sin_family == sa_family_t(AF_INET) else { return 0 }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    // MARK: - Sending

    /// What ``send(_:timeout:whileBlocked:)`` does with input that arrives while it waits for room to send.
    enum WhileBlocked {
        /// Buffer it for ``readLine(timeout:)``: nothing is lost, and a server that answers what we send
        /// never stalls on us.
        case keep
        /// Read and drop it (a flooder that does not care what comes back).
        case discard
        /// Leave it in the kernel: a client that does not read.
        case ignore
    }

    /// Sends every byte, polling for room until `timeout`. Returns false on an error, a reset or the deadline.
    @discardableResult
    func send(_ bytes: [UInt8], timeout: TimeInterval = 10, whileBlocked: WhileBlocked = .keep) -> Bool {
        guard fd >= 0 else { return false }
        let deadline = Date().addingTimeInterval(timeout)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if written > 0 {
                offset += written
                continue
            }
            guard written < 0, errno == EAGAIN || errno == EWOULDBLOCK else { return false }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return false }
            var events = Int16(POLLOUT)
            if whileBlocked != .ignore { events |= Int16(POLLIN) }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            guard poll(&descriptor, 1, Int32(min(remaining, 1) * 1000) + 1) >= 0 else { return false }
            if whileBlocked != .ignore && descriptor.revents & Int16(POLLIN) != 0 {
                _ = readAvailable(discard: whileBlocked == .discard)
            }
        }
        return true
    }

    /// ``send(_:timeout:whileBlocked:)`` for text, sent as UTF-8 as is (add `\r\n` yourself).
    @discardableResult
    func send(_ text: String, timeout: TimeInterval = 10, whileBlocked: WhileBlocked = .keep) -> Bool {
        send(Array(text.utf8), timeout: timeout, whileBlocked: whileBlocked)
    }

    /// One non-blocking send; returns the bytes the kernel took (0 when full or on an error).
    func sendSome(_ bytes: ArraySlice<UInt8>) -> Int {
        guard fd >= 0, !bytes.isEmpty else { return 0 }
        let written = bytes.withUnsafeBytes {
            Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        }
        return max(0, written)
    }

    // MARK: - Reading

    /// Reads whatever is there without waiting; `discard` drops it instead of buffering lines. Returns the
    /// bytes read; marks ``isClosedByServer`` on EOF or an error.
    @discardableResult
    func readAvailable(discard: Bool = false) -> Int {
        guard fd >= 0 else { return 0 }
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                total += count
                bytesReceived += count
                if !discard { buffer += chunk[..<count] }
                continue
            }
            if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { isClosedByServer = true }
            return total
        }
    }

    /// Reads one line (without CRLF), or `nil` if the server closed or `timeout` passed.
    func readLine(timeout: TimeInterval = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer[start...].firstIndex(of: 10) {
                var line = Array(buffer[start..<newline])
                start = newline + 1
                if start > 65_536 {
                    buffer.removeFirst(start)
                    start = 0
                }
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard fd >= 0, !isClosedByServer else { return nil }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(remaining * 1000) + 1) > 0 else { return nil }
            readAvailable()
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
    func expect(_ expected: String, timeout: TimeInterval = 10, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(readLine(timeout: timeout), expected, file: file, line: line)
    }

    /// Marks the end of ``readUntilClosed(timeout:)``'s lines when the server did not close in time.
    static func notClosedMarker(_ timeout: TimeInterval) -> String { "<not closed by the server within \(timeout) s>" }

    /// Reads every line until the server closes (bounded) and returns them. If the deadline passes first, the
    /// last element is ``notClosedMarker(_:)``, so `XCTAssertEqual(client.readUntilClosed(), ["* bye"])`
    /// also checks that the server closed; an unterminated last line comes as `<partial line: …>`.
    func readUntilClosed(timeout: TimeInterval = 10) -> [String] {
        var lines: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        while let line = readLine(timeout: max(0, deadline.timeIntervalSinceNow)) { lines.append(line) }
        let rest = Array(buffer[start...])
        if isClosedByServer {
            if !rest.isEmpty { lines.append("<partial line: \(String(decoding: rest, as: UTF8.self))>") }
        } else {
            lines.append(Self.notClosedMarker(timeout))
        }
        return lines
    }

    /// Whether a full line is buffered (e.g. the welcome arrived).
    var hasBufferedLine: Bool { buffer[start...].contains(10) }

    // MARK: - Ending

    /// Half-close: the server sees end of input; we can still read.
    func shutdownWrite() {
        if fd >= 0 { shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Closes with RST at once (`SO_LINGER` 0, then close): the abrupt form a crashed client produces.
    func abort() {
        guard fd >= 0 else { return }
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    /// An ordinary close (FIN, or RST if unread input is left, as the kernel decides).
    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Shrinks the kernel send buffer (a client the server stops reading blocks sooner).
    func setSendBuffer(_ bytes: Int32) {
        var size = bytes
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Shrinks the kernel receive buffer (a client that does not read fills up sooner).
    func setReceiveBuffer(_ bytes: Int32) {
        var size = bytes
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
}

// MARK: - Many clients at once

extension LineClient {
    /// Connects `count` clients, at most `parallel` in flight, and waits (bounded) until each has its first
    /// line (the welcome). Throws with how far it got if the deadline passes or a connect fails.
    static func connectMany(
        _ count: Int, port: Int, parallel: Int = 256, timeout: TimeInterval = 120
    ) throws -> [LineClient] {
        let deadline = Date().addingTimeInterval(timeout)
        var ready: [LineClient] = []
        ready.reserveCapacity(count)
        var inFlight: [LineClient] = []
        var started = 0
        while ready.count < count {
            while inFlight.count < parallel && started < count {
                inFlight.append(try LineClient(connectingTo: port))
                started += 1
            }
            guard deadline.timeIntervalSinceNow > 0 else {
                throw ChaosFailure("connectMany: only \(ready.count) of \(count) clients welcomed within \(timeout) s")
            }
            var descriptors = inFlight.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            _ = poll(&descriptors, nfds_t(descriptors.count), 100)
            var still: [LineClient] = []
            for (client, descriptor) in zip(inFlight, descriptors) {
                if descriptor.revents != 0 { client.readAvailable() }
                if client.hasBufferedLine {
                    ready.append(client)
                } else if client.isClosedByServer {
                    throw ChaosFailure(
                        "connectMany: client \(ready.count + still.count) closed before its welcome: "
                            + (client.readUntilClosed(timeout: 0).first ?? "<nothing>"))
                } else {
                    still.append(client)
                }
            }
            inFlight = still
        }
        return ready
    }
}

// MARK: - Process and machine facts

/// A failure with a message (thrown out of helpers so the test reports it).
struct ChaosFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum ProcessFacts {
    /// A `/proc/PID/status` field in KiB (`VmHWM` is the peak resident set, `VmRSS` the current one).
    static func statusKiB(_ field: String, pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("\(field):") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// CPU time the process has used so far (user + system), in seconds, from `/proc/PID/stat`.
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": field 3 is the state, so utime (field 14) and stime (15) are the 12th and 13th.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resets the process's peak RSS (`VmHWM`) to its current RSS (`echo 5 > /proc/PID/clear_refs`), so a
    /// later sample measures one phase; false if the kernel does not allow it.
    @discardableResult
    static func resetPeakRSS(pid: Int32) -> Bool {
        let fd = open("/proc/\(pid)/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        return write(fd, "5", 1) == 1
    }

    /// Raises this process's soft open-file limit to the hard limit (the server child inherits it); returns it.
    @discardableResult
    static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(clamping: limit.rlim_cur)
    }
}

extension ServerProcess {
    var pid: Int32 { process.processIdentifier }

    /// Peak resident set so far, KiB.
    var peakResidentKiB: Int? { ProcessFacts.statusKiB("VmHWM", pid: pid) }

    /// "alive", or how the process ended (with the signal's name when it crashed), for failure messages.
    var fate: String {
        if process.isRunning { return "alive" }
        let status = process.terminationStatus
        if process.terminationReason == .uncaughtSignal {
            let names: [Int32: String] = [SIGABRT: "SIGABRT", SIGSEGV: "SIGSEGV", SIGKILL: "SIGKILL", SIGBUS: "SIGBUS",
                                          SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGTERM: "SIGTERM"]
            return "killed by signal \(status) (\(names[status] ?? "?"))"
        }
        return "exited with status \(status)"
    }

    /// The last `count` lines of the server's log, for failure messages.
    func logTail(_ count: Int = 25) -> String {
        logText.split(separator: "\n", omittingEmptySubsequences: false).suffix(count).joined(separator: "\n")
    }

    /// ``diagnosis`` once a dying process has been reaped (waits up to 3 s for it; a live one is reported alive).
    var diagnosisAfterExit: String {
        let deadline = Date().addingTimeInterval(3)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return diagnosis
    }

    /// One paragraph for a failure message: how the process is, the crash report's headline lines (Swift's
    /// backtracer prints registers last, so the tail alone hides the reason), and the end of its log.
    var diagnosis: String {
        let markers = ["Fatal", "fatal error", "crashed", "Crash", "Thread ", "overflow", "precondition", " at /"]
        let lines = logText.split(separator: "\n")
        let headline = lines.filter { line in markers.contains { line.contains($0) } }.prefix(12)
        let crash = headline.isEmpty ? "" : "crash report:\n\(headline.joined(separator: "\n"))\n"
        return "server \(fate); \(crash)last log lines:\n\(logTail(15))"
    }
}

// MARK: - Threads

/// Runs `body(index)` on `count` dedicated threads (not Dispatch's pool, which has as many threads as cores)
/// and waits for all of them, bounded; returns false if some did not finish by the deadline.
func runOnThreads(_ count: Int, timeout: TimeInterval, _ body: @escaping @Sendable (Int) -> Void) -> Bool {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            body(index)
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    return group.wait(timeout: .now() + timeout) == .success
}

/// A count-down latch: threads arrive, and everyone waits until all have (bounded).
final class StartLine: Sendable {
    private let remaining: NIOLockedValueBox<Int>
    private let condition = NSCondition()  // Sendable: NSCondition is thread-safe by design

    init(parties: Int) { remaining = NIOLockedValueBox(parties) }

    /// Marks this party as ready and waits for the others; false if they did not all come within `timeout`.
    @discardableResult
    func arriveAndWait(timeout: TimeInterval = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        remaining.withLockedValue { $0 -= 1 }
        condition.broadcast()
        while remaining.withLockedValue({ $0 }) > 0 {
            if !condition.wait(until: deadline) { return false }
        }
        return true
    }
}
