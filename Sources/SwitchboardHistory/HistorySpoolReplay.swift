import Foundation
import Logging
import NIOCore
import SwitchboardDatabase

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Start-up's replay of the spool files servers left (``HistorySpool``): their events go into the database
/// in order, and the files are removed.
///
/// ```
///  DIR/switchboard-spool-DBID-s7.jsonl      ─┐ each file in order of sequence number; merged by it
///  DIR/switchboard-spool-DBID-s7-stop.jsonl ─┤ (a line in both — read back, then spooled again at the
///                                            │  stop — is stored once)
///                                            ▼
///  for each run of ≤ 2 000 events: one transaction { last_sequence of server 7 (locked);
///      write the events above it; last_sequence = the last one }       → then the files go
/// ```
/// A file is left alone when another process holds its lock (a running server's overflow file) or when it
/// belongs to another database (its header names the database's identity). Events already stored (at or
/// below the server's `last_sequence`) are skipped, so a replay that is interrupted and run again, or a
/// batch that committed after the stop spooled it, stores nothing twice.
///
/// Connections are matched to their rows by the row id the spool recorded, or by the `opened` event read
/// earlier in the same replay. One whose row was written by an earlier, interrupted replay without a
/// recorded row id cannot be matched: its later lines and its close are skipped (start-up repair closes
/// the row).
public enum HistorySpoolReplay {
    /// What a replay did.
    public struct Outcome: Sendable, Equatable {
        /// Spool files replayed and removed.
        public var files = 0
        /// Events written to the database.
        public var stored = 0
        /// Events skipped because the database had them already.
        public var alreadyStored = 0
        /// Lines that could not be read (a file cut off by a crash).
        public var unreadable = 0
    }

    /// Events per transaction.
    static let batchSize = 2_000

    /// Replays every spool file in `directory` that belongs to the database `pool` talks to (whose identity
    /// is `databaseIdentity`). Runs the file reading and the writes on the pool's threads.
    public static func replay(
        directory: String, databaseIdentity: String, pool: DatabasePool, logger: Logger
    ) async throws -> Outcome {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("switchboard-spool-") && $0.hasSuffix(".jsonl") }
            .sorted()
        guard !names.isEmpty else { return Outcome() }
        let dialect = pool.url.dialect
        let opened = try await pool.withConnection { _ throws(DatabaseError) in
            SpoolFiles.openAll(names.map { "\(directory)/\($0)" }, databaseIdentity: databaseIdentity)
        }
        for skipped in opened.skipped {
            logger.notice("history spool file left alone", metadata: ["file": "\(skipped.path)", "why": "\(skipped.why)"])
        }
        var outcome = Outcome()
        for (server, group) in opened.byServer.sorted(by: { $0.key < $1.key }) {
            let repository = HistoryRepository(dialect: dialect, serverID: server)
            var rowIDs: [ConnectionKey: Int64] = [:]
            while true {
                let known = rowIDs
                let step = try await pool.transaction { connection throws(DatabaseError) in
                    let stored = try repository.historySequence(ofServer: server, on: connection)
                    let events = group.next(count: batchSize)
                    var batch: [HistoryEvent] = []
                    var ids = known
                    var skipped = 0
                    for spooled in events {
                        if let row = spooled.rowID, let key = spooled.event.referencedKey { ids[key] = row }
                        if spooled.sequence <= stored {
                            // Stored already; an `opened` with its number still names the row for what follows.
                            if case .opened(let key, _, _, _, let visitor?) = spooled.event { ids[key] = visitor }
                            skipped += 1
                        } else {
                            batch.append(spooled.event)
                        }
                    }
                    let last = events.last?.sequence ?? 0
                    let written = try repository.write(batch, known: ids, through: last, on: connection)
                    ids.merge(written) { _, new in new }
                    // Rows closed in this batch are not referred to again.
                    for case .closed(let key, _) in batch { ids[key] = nil }
                    return (ids, batch.count, skipped, events.isEmpty)
                }
                rowIDs = step.0
                outcome.stored += step.1
                outcome.alreadyStored += step.2
                if step.3 { break }
            }
            outcome.unreadable += group.unreadable
            outcome.files += group.paths.count
            _ = try await pool.withConnection { _ throws(DatabaseError) in group.remove() }
        }
        if outcome.files > 0 {
            logger.notice(
                "replayed the history spool",
                metadata: ["files": "\(outcome.files)", "stored": "\(outcome.stored)",
                           "already-stored": "\(outcome.alreadyStored)", "unreadable-lines": "\(outcome.unreadable)"])
        }
        return outcome
    }

    /// The spool files of one database, opened and locked, grouped by the server that wrote them.
    ///
    /// `@unchecked Sendable`: made on a pool thread and then used by one pool call at a time — each call is
    /// awaited before the next starts, which orders every access — and never concurrently.
    final class SpoolFiles: @unchecked Sendable {
        var byServer: [Int64: ServerGroup] = [:]
        var skipped: [(path: String, why: String)] = []

        static func openAll(_ paths: [String], databaseIdentity: String) -> SpoolFiles {
            let files = SpoolFiles()
            for path in paths {
                let descriptor = open(path, O_RDWR | O_CLOEXEC)
                guard descriptor >= 0 else {
                    files.skipped.append((path, String(cString: strerror(errno))))
                    continue
                }
                guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                    close(descriptor)
                    files.skipped.append((path, "in use by a running server"))
                    continue
                }
                let reader = LineReader(descriptor: descriptor)
                guard let first = reader.nextLine(),
                    let header = try? JSONDecoder().decode(SpoolRecord.Header.self, from: first), header.spool == 1
                else {
                    close(descriptor)
                    files.skipped.append((path, "not a spool file this version reads"))
                    continue
                }
                guard header.database == databaseIdentity else {
                    close(descriptor)
                    files.skipped.append((path, "written for another database (\(header.database))"))
                    continue
                }
                let group = files.byServer[header.server] ?? ServerGroup()
                group.add(path: path, reader: reader)
                files.byServer[header.server] = group
            }
            return files
        }
    }

    /// One server's spool files, read as one stream in sequence order.
    final class ServerGroup: @unchecked Sendable {
        // @unchecked Sendable: as SpoolFiles, used by one awaited pool call at a time.
        private(set) var paths: [String] = []
        private var readers: [LineReader] = []
        private var heads: [HistoryWriteStateMachine.SpooledEvent?] = []
        private var lastSequence: UInt64 = 0
        private(set) var unreadable = 0
        private let decoder = JSONDecoder()

        func add(path: String, reader: LineReader) {
            paths.append(path)
            readers.append(reader)
            heads.append(nil)
            heads[heads.count - 1] = read(readers.count - 1)
        }

        /// Up to `count` events, lowest sequence number first, each once.
        func next(count: Int) -> [HistoryWriteStateMachine.SpooledEvent] {
            var events: [HistoryWriteStateMachine.SpooledEvent] = []
            while events.count < count {
                var lowest: Int?
                for (index, head) in heads.enumerated() {
                    guard let head else { continue }
                    if let current = lowest, let other = heads[current], other.sequence <= head.sequence { continue }
                    lowest = index
                }
                guard let index = lowest, let event = heads[index] else { break }
                heads[index] = read(index)
                if event.sequence <= lastSequence && lastSequence > 0 { continue }  // the same line in two files
                lastSequence = event.sequence
                events.append(event)
            }
            return events
        }

        private func read(_ index: Int) -> HistoryWriteStateMachine.SpooledEvent? {
            while let line = readers[index].nextLine() {
                if let event = (try? decoder.decode(SpoolRecord.self, from: line))?.spooled { return event }
                unreadable += 1
            }
            unreadable += readers[index].truncatedLines
            return nil
        }

        func remove() {
            for path in paths { unlink(path) }
            for reader in readers { reader.closeFile() }
        }
    }

    /// Reads a file line by line (buffered); a last line without its newline (cut off by a crash) is
    /// counted in ``truncatedLines`` and not returned.
    final class LineReader: @unchecked Sendable {
        // @unchecked Sendable: as SpoolFiles, used by one awaited pool call at a time.
        private let descriptor: Int32
        private var buffer: [UInt8] = []
        private var start = 0
        private var atEnd = false
        private(set) var truncatedLines = 0

        init(descriptor: Int32) { self.descriptor = descriptor }

        func nextLine() -> Data? {
            while true {
                if let newline = buffer[start...].firstIndex(of: 0x0A) {
                    let line = Data(buffer[start..<newline])
                    start = newline + 1
                    return line
                }
                if atEnd {
                    if start < buffer.count {
                        truncatedLines += 1
                        start = buffer.count
                    }
                    return nil
                }
                buffer.removeFirst(start)
                start = 0
                var chunk = [UInt8](repeating: 0, count: 256 * 1024)
                let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count <= 0 {
                    atEnd = true
                } else {
                    buffer.append(contentsOf: chunk[..<count])
                }
            }
        }

        func closeFile() { close(descriptor) }
    }
}
