import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where log lines go: standard error, written by a thread of the writer's own, so a slow reader of the log
/// (a full pipe to journald or a log shipper) never blocks an event loop that logs. Lines wait in a bounded
/// queue (``maximumQueuedBytes``); past it they are dropped and counted, and one line says how many once the
/// queue has room again.
///
/// The writer thread is woken only when it is idle, and once awake it gathers lines for ``gatherInterval``
/// before writing them in one `write(2)`: a busy server logs two lines per connection, and waking a thread
/// for each cost ~14 % of the server's CPU at one connection at a time (a futex wake, a context switch and a
/// write per line). A line reaches standard error at most ``gatherInterval`` late; ``flush(timeout:)`` and a
/// queue past ``wakeEarlyBytes`` cut the gathering short.
///
/// `synchronous` writers (short commands: `migrate`, `history`) write on the caller's thread instead.
/// Thread-safe: the queue is behind `condition`; only the writer thread writes to the descriptor
/// (asynchronous mode).
final class LogLineWriter: @unchecked Sendable {
    // @unchecked Sendable: `queue`, `queuedBytes`, `dropped`, `writing`, `idle` and `hurry` are touched only
    // with `condition` locked; `descriptor` and `synchronous` never change.
    private let condition = NSCondition()
    private var queue: [String] = []
    private var queuedBytes = 0
    private var dropped = 0
    private var writing = false
    /// The writer thread waits for a first line (a new line must wake it).
    private var idle = false
    /// Someone waits in ``flush(timeout:)``, or the queue is past ``wakeEarlyBytes``: write without gathering.
    private var hurry = false
    private let descriptor: Int32
    private let synchronous: Bool

    /// The most bytes of lines waiting to be written.
    static let maximumQueuedBytes = 8 << 20
    /// How long the writer gathers lines after the first one before writing them all.
    static let gatherInterval: TimeInterval = 0.01
    /// Queued bytes past which the writer stops gathering and writes at once.
    static let wakeEarlyBytes = 256 << 10

    init(descriptor: Int32 = 2, synchronous: Bool) {
        self.descriptor = descriptor
        self.synchronous = synchronous
        if !synchronous {
            let thread = Thread { [unowned(unsafe) self] in self.run() }
            thread.name = "switchboard-log"
            thread.start()
        }
    }

    /// Queues `line` (which ends in a newline), or writes it now if synchronous.
    func write(_ line: String) {
        condition.lock()
        defer { condition.unlock() }
        if synchronous {
            writeAll(line)
            return
        }
        guard queuedBytes + line.utf8.count <= LogLineWriter.maximumQueuedBytes else {
            dropped += 1
            return
        }
        queue.append(line)
        queuedBytes += line.utf8.count
        if queuedBytes > LogLineWriter.wakeEarlyBytes { hurry = true }
        // Wake the writer only when it waits for a first line, or must stop gathering: a gathering writer
        // reads the queue when its interval ends.
        if idle || hurry { condition.broadcast() }
    }

    /// Waits (at most `timeout` seconds) until every queued line is written: before the process exits.
    func flush(timeout: TimeInterval = 2) {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !queue.isEmpty || writing {
            hurry = true
            condition.broadcast()  // a gathering writer writes now
            if !condition.wait(until: deadline) { return }
        }
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty {
                idle = true
                condition.wait()
            }
            idle = false
            // Gather what else comes for a moment (unless hurried): one write for many lines.
            let gatherUntil = Date().addingTimeInterval(LogLineWriter.gatherInterval)
            while !hurry && condition.wait(until: gatherUntil) {}
            hurry = false
            let lines = queue
            queue.removeAll(keepingCapacity: true)
            queuedBytes = 0
            let lost = dropped
            dropped = 0
            writing = true
            condition.unlock()

            writeAll(lines.joined())
            if lost > 0 {
                writeAll("\(LogLineWriter.timestamp()) warning switchboard: dropped=\(lost) [switchboard] log lines dropped: standard error was not keeping up\n")
            }
            condition.lock()
            writing = false
            condition.broadcast()
            condition.unlock()
        }
    }

    private func writeAll(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return  // nowhere to log that logging failed
            }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Local time as swift-log's stream handler writes it: `2026-12-07T03:11:16+0000`. Formatted once a
    /// second (`localtime_r` and `strftime` were a visible part of the two lines logged per connection).
    static func timestamp() -> String {
        let now = time(nil)
        if let cached = lastTimestamp.withLock({ $0.second == now ? $0.text : nil }) { return cached }
        var local = tm()
        var seconds = now
        localtime_r(&seconds, &local)
        var buffer = [Int8](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        let text = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        lastTimestamp.withLock { $0 = (now, text) }
        return text
    }

    /// The last second ``timestamp()`` formatted, and its text (any thread logs).
    private static let lastTimestamp = Mutex<(second: time_t, text: String)>((-1, ""))
}
