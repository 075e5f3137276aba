import Foundation

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
/// `synchronous` writers (short commands: `migrate`, `history`) write on the caller's thread instead.
/// Thread-safe: the queue is behind `condition`; only the writer thread writes to the descriptor
/// (asynchronous mode).
final class LogLineWriter: @unchecked Sendable {
    // @unchecked Sendable: `queue`, `queuedBytes`, `dropped` and `writing` are touched only with `condition`
    // locked; `descriptor` and `synchronous` never change.
    private let condition = NSCondition()
    private var queue: [String] = []
    private var queuedBytes = 0
    private var dropped = 0
    private var writing = false
    private let descriptor: Int32
    private let synchronous: Bool

    /// The most bytes of lines waiting to be written.
    static let maximumQueuedBytes = 8 << 20

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
        condition.broadcast()  // the writer thread, and not only a flush() that may be waiting too
    }

    /// Waits (at most `timeout` seconds) until every queued line is written: before the process exits.
    func flush(timeout: TimeInterval = 2) {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !queue.isEmpty || writing {
            if !condition.wait(until: deadline) { return }
        }
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
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

    /// Local time as swift-log's stream handler writes it: `2026-12-07T03:11:16+0000`.
    static func timestamp() -> String {
        var now = time(nil)
        var local = tm()
        localtime_r(&now, &local)
        var buffer = [Int8](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
