import Foundation
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where history goes when the database cannot take it: two append-only files per server, each line one
/// event (``SpoolRecord``), every append fsynced before it counts.
///
/// ```
///  DIR/switchboard-spool-DBID-sSERVER.jsonl       the overflow: events that did not fit the in-memory queue
///                                                 during an outage, in order; read back into the queue once
///                                                 the database is up again, then removed
///  DIR/switchboard-spool-DBID-sSERVER-stop.jsonl  what a stop could not write in time (the queue's rest)
/// ```
/// `DBID` is the database's identity (its `database_identity` row), so a file is only ever replayed into
/// the database it was meant for. The next start of any server on that database with the same spool
/// directory replays whatever is left before it serves (``HistorySpoolReplay``); every event carries its
/// sequence number and every committed batch records the last one in `history_progress`, so a
/// replay — interrupted or not, of a batch that did commit after all or not — stores nothing twice.
///
/// Both files together hold at most ``maximumBytes``; an append that does not fit fails (its events are
/// dropped and counted by the caller).
///
/// Ownership: every file operation runs on the spool's own thread (a one-thread `NIOThreadPool`), in the
/// order the calls were made; results come back as futures on the caller's loop. The overflow file is
/// locked (`flock`) while this process uses it, so a starting server leaves it alone.
public final class HistorySpool: Sendable {
    /// The directory the files are in.
    public let directory: String
    /// The most bytes both files may hold together.
    public let maximumBytes: Int64
    /// The overflow file.
    public let overflowPath: String
    /// The file a stop writes what it could not store.
    public let stopPath: String
    private let header: SpoolRecord.Header
    private let thread = NIOThreadPool(numberOfThreads: 1)
    private let files: Files
    private let logger: Logger

    /// The file names in `directory` of a server's spool on the database `databaseIdentity`.
    static func paths(directory: String, databaseIdentity: String, serverID: Int64) -> (overflow: String, stop: String) {
        let base = "\(directory)/switchboard-spool-\(databaseIdentity.prefix(16))-s\(serverID)"
        return (base + ".jsonl", base + "-stop.jsonl")
    }

    /// A spool for server `serverID` on the database whose identity is `databaseIdentity`. Nothing is
    /// created until the first append.
    public init(directory: String, databaseIdentity: String, serverID: Int64, maximumBytes: Int64, logger: Logger) {
        self.directory = directory
        self.maximumBytes = maximumBytes
        (overflowPath, stopPath) = HistorySpool.paths(directory: directory, databaseIdentity: databaseIdentity, serverID: serverID)
        header = SpoolRecord.Header(spool: 1, database: databaseIdentity, server: serverID)
        files = Files()
        self.logger = logger
        thread.start()
    }

    /// Appends `events` to the overflow file and fsyncs it; the future gives the events that could not be
    /// written (none when all went well): past ``maximumBytes``, or a write that failed.
    func append(
        _ events: [HistoryWriteStateMachine.SpooledEvent], on loop: any EventLoop
    ) -> EventLoopFuture<[HistoryWriteStateMachine.SpooledEvent]> {
        let files = self.files
        let header = self.header
        let path = overflowPath
        let maximum = maximumBytes
        let logger = self.logger
        return thread.runIfActive(eventLoop: loop) {
            do {
                return try files.appendOverflow(events, header: header, path: path, maximumBytes: maximum)
            } catch {
                files.reportOnce(logger, "cannot write the history spool; events that do not fit in memory are lost", error)
                return events
            }
        }.flatMapErrorThrowing { _ in events }
    }

    /// Reads the next events of the overflow file back, oldest first: at most `maximumEvents`, and stopping
    /// once about `maximumBytes` of events are read. Empty when everything has been read back.
    func read(
        maximumEvents: Int, maximumBytes: Int, on loop: any EventLoop
    ) -> EventLoopFuture<[HistoryWriteStateMachine.SpooledEvent]> {
        let files = self.files
        let path = overflowPath
        return thread.runIfActive(eventLoop: loop) {
            try files.readOverflow(path: path, maximumEvents: maximumEvents, maximumBytes: maximumBytes)
        }
    }

    /// Removes the overflow file (every event in it has been read back).
    func removeOverflow(on loop: any EventLoop) -> EventLoopFuture<Void> {
        let files = self.files
        let path = overflowPath
        return thread.runIfActive(eventLoop: loop) { files.removeOverflow(path: path) }
    }

    /// At a stop: writes `events` (what the queue still held) to the stop file and fsyncs it, after every
    /// append asked for before. The future gives how many were written (the rest did not fit).
    func writeAtStop(_ events: [HistoryWriteStateMachine.SpooledEvent], on loop: any EventLoop) -> EventLoopFuture<Int> {
        let files = self.files
        let header = self.header
        let path = stopPath
        let maximum = maximumBytes
        return thread.runIfActive(eventLoop: loop) {
            try files.writeStop(events, header: header, path: path, maximumBytes: maximum)
        }
    }

    /// Closes the files (releasing the overflow file's lock) and stops the spool's thread.
    public func shutdown() async {
        let files = self.files
        _ = try? await thread.runIfActive { files.closeAll() }
        try? await thread.shutdownGracefully()
    }

    /// Encodes one event as its line, newline included.
    static func line(_ event: HistoryWriteStateMachine.SpooledEvent, encoder: JSONEncoder) throws -> Data {
        var data = try encoder.encode(SpoolRecord(event))
        data.append(0x0A)
        return data
    }

    /// The descriptors and offsets of the two files.
    ///
    /// `@unchecked Sendable`: every method runs on the spool's single thread (``HistorySpool/thread``), one
    /// call after another in submission order, so the mutable state is never touched concurrently.
    final class Files: @unchecked Sendable {
        private var overflow: Int32 = -1
        /// Bytes in the overflow file (its header included).
        private var overflowSize: Int64 = 0
        /// Where the next read back starts, and bytes read past it that did not make a whole line yet.
        private var readOffset: Int64 = 0
        private var stopSize: Int64 = 0
        private var reported = false
        private let encoder = JSONEncoder()
        private let decoder = JSONDecoder()

        func reportOnce(_ logger: Logger, _ message: Logger.Message, _ error: any Error) {
            guard !reported else { return }
            reported = true
            logger.error(message, metadata: ["error": "\(error)"])
        }

        /// The leading `events` that fit in the spool's `maximumBytes` (both files together), encoded as lines.
        private func encodeFitting(
            _ events: [HistoryWriteStateMachine.SpooledEvent], within maximumBytes: Int64
        ) throws -> (data: Data, count: Int) {
            var data = Data()
            var count = 0
            for event in events {
                let line = try HistorySpool.line(event, encoder: encoder)
                if overflowSize + stopSize + Int64(data.count + line.count) > maximumBytes { break }
                data.append(line)
                count += 1
            }
            return (data, count)
        }

        func appendOverflow(
            _ events: [HistoryWriteStateMachine.SpooledEvent], header: SpoolRecord.Header, path: String, maximumBytes: Int64
        ) throws -> [HistoryWriteStateMachine.SpooledEvent] {
            if overflow < 0 {
                overflow = try Files.openSpoolFile(path, header: header, encoder: encoder, size: &overflowSize)
                guard flock(overflow, LOCK_EX | LOCK_NB) == 0 else {
                    let error = SpoolError(path: path, operation: "lock", code: errno)
                    close(overflow)
                    overflow = -1
                    throw error
                }
                readOffset = try Files.headerLength(overflow, path: path)
            }
            let (data, written) = try encodeFitting(events, within: maximumBytes)
            try Files.appendSynced(data, to: overflow, path: path, size: &overflowSize)
            return Array(events[written...])
        }

        func readOverflow(path: String, maximumEvents: Int, maximumBytes: Int) throws -> [HistoryWriteStateMachine.SpooledEvent] {
            guard overflow >= 0 else { return [] }
            var events: [HistoryWriteStateMachine.SpooledEvent] = []
            var bytes = 0
            var chunk = [UInt8](repeating: 0, count: 256 * 1024)
            reading: while events.count < maximumEvents && bytes < maximumBytes && readOffset < overflowSize {
                let count = chunk.withUnsafeMutableBytes { pread(overflow, $0.baseAddress, $0.count, off_t(readOffset)) }
                guard count > 0 else {
                    if count < 0 { throw SpoolError(path: path, operation: "read", code: errno) }
                    break
                }
                var lineStart = 0
                for index in 0..<count where chunk[index] == 0x0A {
                    let line = Data(chunk[lineStart..<index])
                    lineStart = index + 1
                    readOffset += Int64(line.count + 1)
                    if let event = (try? decoder.decode(SpoolRecord.self, from: line))?.spooled {
                        events.append(event)
                        bytes += event.event.estimatedBytes
                    }
                    if events.count >= maximumEvents || bytes >= maximumBytes { break reading }
                }
                if lineStart == 0 {
                    // A line longer than the chunk cannot be (a line is at most a few times --max-line); a file
                    // that ends without a newline was cut off mid-line by a crash: the rest is unreadable.
                    readOffset = overflowSize
                    break
                }
            }
            return events
        }

        func removeOverflow(path: String) {
            guard overflow >= 0 else { return }
            unlink(path)
            close(overflow)  // releases the lock
            overflow = -1
            overflowSize = 0
            readOffset = 0
        }

        func writeStop(
            _ events: [HistoryWriteStateMachine.SpooledEvent], header: SpoolRecord.Header, path: String, maximumBytes: Int64
        ) throws -> Int {
            guard !events.isEmpty else { return 0 }
            var size: Int64 = 0
            let descriptor = try Files.openSpoolFile(path, header: header, encoder: encoder, size: &size)
            defer { close(descriptor) }
            stopSize = size
            let (data, written) = try encodeFitting(events, within: maximumBytes)
            try Files.appendSynced(data, to: descriptor, path: path, size: &stopSize)
            return written
        }

        func closeAll() {
            if overflow >= 0 { close(overflow) }
            overflow = -1
        }

        /// Opens (creating if need be, mode 0600) a spool file for appending and reading; a new or empty one
        /// gets the header line. `size` is set to the file's size.
        static func openSpoolFile(_ path: String, header: SpoolRecord.Header, encoder: JSONEncoder, size: inout Int64) throws -> Int32 {
            let descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw SpoolError(path: path, operation: "open", code: errno) }
            var status = stat()
            guard fstat(descriptor, &status) == 0 else {
                let error = SpoolError(path: path, operation: "stat", code: errno)
                close(descriptor)
                throw error
            }
            size = Int64(status.st_size)
            if size == 0 {
                var line = try encoder.encode(header)
                line.append(0x0A)
                do {
                    try appendSynced(line, to: descriptor, path: path, size: &size)
                } catch {
                    close(descriptor)
                    throw error
                }
            }
            return descriptor
        }

        /// The length of the header line, newline included.
        static func headerLength(_ descriptor: Int32, path: String) throws -> Int64 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0, let newline = buffer[..<count].firstIndex(of: 0x0A) else {
                throw SpoolError(path: path, operation: "read the header of", code: count < 0 ? errno : EINVAL)
            }
            return Int64(newline + 1)
        }

        /// Writes `data` at the end of the file and fsyncs; on failure the file is cut back to `size`, so no
        /// half line stays behind to spoil the next one.
        static func appendSynced(_ data: Data, to descriptor: Int32, path: String, size: inout Int64) throws {
            guard !data.isEmpty else { return }
            var done = 0
            let failure: Int32? = data.withUnsafeBytes { raw -> Int32? in
                while done < raw.count {
                    let count = write(descriptor, raw.baseAddress! + done, raw.count - done)
                    if count < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    done += count
                }
                return fsync(descriptor) == 0 ? nil : errno
            }
            if let failure {
                _ = ftruncate(descriptor, off_t(size))
                throw SpoolError(path: path, operation: "write", code: failure)
            }
            size += Int64(data.count)
        }
    }
}

/// A spool file operation failed: which file, what was being done, and the system's reason.
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var code: Int32

    public var description: String {
        "cannot \(operation) the history spool \(path): \(String(cString: strerror(code)))"
    }
}
