import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads the read end of a pipe (a child process's stdout) to its end on a thread of its own, so a test can
/// wait, bounded, for bytes or for the end.
///
/// Why not `FileHandle.readabilityHandler`: on Linux it sometimes never reports a pipe's end. Data arrives,
/// but the empty read that means "the writer is gone" does not come (8 of 300 `sh -c 'echo hi'` runs on
/// this machine), so a test waiting for a process's output to end waited out its whole bound although the
/// process had exited (`TLSEndToEndTests`' refused `openssl s_client`, seen closed only by its output's end).
/// A blocking `read(2)` returns 0 at the end, always (`PipeReaderTests`).
///
/// The reader works on its own duplicate of the descriptor (close-on-exec), closed when the end is read; the
/// caller's handle stays the caller's.
///
/// Thread-safe: the bytes and the end flag are guarded by `condition`; the reader thread is the only writer.
public final class PipeReader: @unchecked Sendable {
    // @unchecked Sendable: `bytes` and `ended` are read and written only while holding `condition`.
    private let condition = NSCondition()
    private var bytes: [UInt8] = []
    private var ended = false

    /// Starts reading `handle` (the read end of a pipe) at once.
    public init(_ handle: FileHandle) {
        let descriptor = fcntl(handle.fileDescriptor, F_DUPFD_CLOEXEC, 0)
        guard descriptor >= 0 else {
            ended = true
            return
        }
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 16_384)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                condition.lock()
                if count > 0 { bytes += chunk[..<count] } else { ended = true }
                condition.broadcast()
                condition.unlock()
                if count <= 0 { break }
            }
            close(descriptor)
        }
        thread.name = "PipeReader"
        thread.start()
    }

    /// Waits until `ready` finds what it needs in the bytes received and not yet consumed (it returns how many
    /// bytes to consume and a result), until `deadline`. `nil` when the deadline passes, or when the pipe
    /// ended and `ready` still finds nothing.
    public func wait<T>(until deadline: Date, _ ready: ([UInt8]) -> (consumed: Int, value: T)?) -> T? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let (consumed, value) = ready(bytes) {
                bytes.removeFirst(consumed)
                return value
            }
            if ended { return nil }
            if !condition.wait(until: deadline) { return nil }
        }
    }

    /// Waits until the pipe ends (every writer closed it: the process exited), until `deadline`; returns
    /// whether it did.
    public func waitForEnd(until deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !ended {
            if !condition.wait(until: deadline) { return ended }
        }
        return true
    }

    /// Whether the pipe has ended.
    public var hasEnded: Bool {
        condition.lock()
        defer { condition.unlock() }
        return ended
    }
}
