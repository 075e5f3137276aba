import Foundation
import Logging
import NIOCore
import NIOPosix
import SwitchboardTestSupport
import XCTest
@testable import SwitchboardHistory
import SwitchboardDatabase

/// The spool: what history could not write goes to a file, and comes back — into the running writer once
/// the database is up, or into the database at the next start — each event stored exactly once.
final class HistorySpoolTests: XCTestCase {
    private let at = Timestamp(microsecondsSinceEpoch: 1_764_000_000_000_000)

    private func spooled(_ sequence: UInt64, _ event: HistoryEvent, row: Int64? = nil) -> HistoryWriteStateMachine.SpooledEvent {
        .init(sequence: sequence, event: event, rowID: row)
    }

    private var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// A stop's spool file, replayed: the events a batch had committed already (at or below the server's
    /// `last_sequence`) are skipped, the rest stored once, in order, closing the row they opened; a line
    /// in two files (read back, then spooled again at the stop) is stored once; replaying the same file again
    /// stores nothing; a file for another database is left alone.
    func testAReplayStoresEveryEventOnceHoweverOftenItRuns() async throws {
        try await forEachDatabase { db in
            let (serverID, identity) = try await db.withRepository { repository, connection throws(DatabaseError) in
                (try ServerRegistry(dialect: repository.dialect).register(
                    ServerRegistration(host: "h", pid: 1, endpoints: "tcp:0", version: "t"), on: connection),
                 try repository.databaseIdentity(on: connection))
            }
            let key = ConnectionKey(1)
            let events: [HistoryEvent] = [
                .opened(key, peer: "10.0.0.1:1", nickname: nil, at: at, visitor: 9_001),
            ] + (1...5).map { .message(key, nickname: "alice", kind: .say, body: "line \($0)", at: at) } + [
                .closed(key, ConnectionSummary(
                    nickname: "alice", closedAt: at, reason: "server shutdown", linesIn: 5, linesOut: 0, bytesIn: 40, bytesOut: 0)),
                .refused(peer: "10.0.0.2:2", reason: "refused: server full", at: at, visitor: 9_002),
            ]
            // The first three were committed by a batch, as the writer commits them (last_sequence = 3).
            let owner = HistoryRepository(dialect: db.database.url.dialect, serverID: serverID)
            _ = try await db.pool.transaction { connection throws(DatabaseError) in
                try owner.write(Array(events.prefix(3)), known: [:], through: 3, on: connection)
            }
            let directory = try makeTemporaryDirectory().path
            let spool = HistorySpool(
                directory: directory, databaseIdentity: identity, serverID: serverID, maximumBytes: 1 << 20, logger: quietLogger)
            let all = events.enumerated().map { spooled(UInt64($0.offset + 1), $0.element, row: $0.offset > 0 && $0.offset < 7 ? 9_001 : nil) }
            // The overflow file holds 4…6 (read back, then the stop came); the stop file holds everything.
            _ = try await spool.append(Array(all[3...5]), on: db.loop).get()
            let written = try await spool.writeAtStop(all, on: db.loop).get()
            XCTAssertEqual(written, all.count)
            await spool.shutdown()
            let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            XCTAssertEqual(files.count, 2, "\(files)")
            let copies = try files.map { try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\($0)")) }
            // Another database's spool in the same directory.
            let foreign = HistorySpool(
                directory: directory, databaseIdentity: "someotherdatabase", serverID: serverID, maximumBytes: 1 << 20,
                logger: quietLogger)
            _ = try await foreign.writeAtStop([all[1]], on: db.loop).get()
            await foreign.shutdown()

            let first = try await HistorySpoolReplay.replay(
                directory: directory, databaseIdentity: identity, pool: db.pool, logger: quietLogger)
            XCTAssertEqual(first, .init(files: 2, stored: 5, alreadyStored: 3, unreadable: 0))
            try await assertStored(db)
            let left = try FileManager.default.contentsOfDirectory(atPath: directory)
            let foreignFile = URL(fileURLWithPath: foreign.stopPath).lastPathComponent
            XCTAssertEqual(left, [foreignFile], "the replayed files are gone; the other database's stays")

            // The same files again (a replay interrupted after it committed, then run again): nothing twice.
            for (name, data) in zip(files, copies) { try data.write(to: URL(fileURLWithPath: "\(directory)/\(name)")) }
            let second = try await HistorySpoolReplay.replay(
                directory: directory, databaseIdentity: identity, pool: db.pool, logger: quietLogger)
            XCTAssertEqual(second, .init(files: 2, stored: 0, alreadyStored: 8, unreadable: 0))
            try await assertStored(db)
        }
    }

    private func assertStored(_ db: StoreFixture, file: StaticString = #filePath, line: UInt = #line) async throws {
        let bodies = try await db.query("SELECT body FROM messages ORDER BY id").map { $0[0].string ?? "?" }
        XCTAssertEqual(bodies, (1...5).map { "line \($0)" }, "each line once, in order", file: file, line: line)
        let rows = try await db.connections(limit: 10)
        XCTAssertEqual(rows.map(\.id), [9_002, 9_001], file: file, line: line)
        XCTAssertEqual(rows.last?.closeReason, "server shutdown", "the replay closed the row it opened", file: file, line: line)
        XCTAssertEqual(rows.last?.nickname, "alice", file: file, line: line)
        XCTAssertEqual(rows.first?.closeReason, "refused: server full", file: file, line: line)
    }

    /// A spool file cut off mid-line by a crash replays every whole line and counts the rest as unreadable.
    func testACutOffLastLineIsCountedAndTheRestReplayed() async throws {
        try await forEachDatabase { db in
            let (serverID, identity) = try await db.withRepository { repository, connection throws(DatabaseError) in
                (try ServerRegistry(dialect: repository.dialect).register(
                    ServerRegistration(host: "h", pid: 1, endpoints: "tcp:0", version: "t"), on: connection),
                 try repository.databaseIdentity(on: connection))
            }
            let directory = try makeTemporaryDirectory().path
            let spool = HistorySpool(
                directory: directory, databaseIdentity: identity, serverID: serverID, maximumBytes: 1 << 20, logger: quietLogger)
            let key = ConnectionKey(1)
            let events = [spooled(1, .opened(key, peer: "p", nickname: nil, at: at, visitor: 77))]
                + (2...4).map { spooled(UInt64($0), .message(key, nickname: "n", kind: .say, body: "b\($0)", at: at), row: 77) }
            _ = try await spool.writeAtStop(events, on: db.loop).get()
            await spool.shutdown()
            let handle = try XCTUnwrap(FileHandle(forWritingAtPath: spool.stopPath))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(#"{"seq":5,"type":"mess"#.utf8))
            try handle.close()
            let outcome = try await HistorySpoolReplay.replay(
                directory: directory, databaseIdentity: identity, pool: db.pool, logger: quietLogger)
            XCTAssertEqual(outcome, .init(files: 1, stored: 4, alreadyStored: 0, unreadable: 1))
            let count = try await db.query("SELECT count(*) FROM messages").first?.first?.int64
            XCTAssertEqual(count, 3)
        }
    }

    /// An outage longer than the in-memory queue: everything past it goes to the overflow file in order,
    /// and once PostgreSQL is back the writer reads it back and writes every event; the file is removed.
    func testAnOutageLongerThanTheQueueSpillsAndLosesNothing() async throws {
        let cluster = try RestartablePostgresCluster.make()
        let log = CapturedLog()
        var debugLogger = Logger(label: "test") { _ in CapturingLogHandler(log: log) }
        debugLogger.logLevel = .debug
        let logger = debugLogger
        let url = try DatabaseURL(parsing: cluster.url)
        let pool = DatabasePool(url: url, numberOfThreads: 2, logger: logger)
        pool.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let repository = HistoryRepository(dialect: .postgres)
        _ = try await pool.withConnection { connection throws(DatabaseError) in try repository.migrate(on: connection) }
        let (serverID, identity) = try await pool.withConnection { connection throws(DatabaseError) in
            (try ServerRegistry(dialect: repository.dialect).register(ServerRegistration(host: "h", pid: 1, endpoints: "tcp:0", version: "t"), on: connection),
             try repository.databaseIdentity(on: connection))
        }
        let directory = try makeTemporaryDirectory().path
        let spool = HistorySpool(directory: directory, databaseIdentity: identity, serverID: serverID, maximumBytes: 1 << 30, logger: logger)
        let loop = group.next()
        let writer = try await loop.submit {
            NIOLoopBound(
                HistoryWriter(pool: pool, eventLoop: loop, logger: logger, serverID: serverID, maximumQueuedEvents: 20, spool: spool),
                eventLoop: loop)
        }.get()
        let key = ConnectionKey(1)
        let row = try await loop.flatSubmit {
            writer.value.connectionOpened(key, peer: "10.0.0.1:1", nickname: nil, at: Timestamp.now())
        }.get()

        try cluster.stop()
        try await loop.submit {
            for n in 1...200 {
                writer.value.messageSaid(key, nickname: "alice", kind: .say, body: "during the outage \(n)", at: Timestamp.now())
            }
        }.get()
        try log.wait(containing: "history queue full during an outage; spooling events to disk", timeout: 30)
        let spooledDuring = try await loop.submit { writer.value.spooledEvents }.get()
        XCTAssertGreaterThanOrEqual(spooledDuring, 180, "the queue holds 20; the rest went to the spool")

        try cluster.start()
        try await loop.flatSubmit { writer.value.flushed() }.get()
        let bodies = try await pool.withConnection { connection throws(DatabaseError) in
            try connection.query("SELECT body FROM messages WHERE connection_id = $1 ORDER BY id", [.integer(row)])
        }.map { $0[0].string ?? "?" }
        XCTAssertEqual(bodies, (1...200).map { "during the outage \($0)" }, "every line, once, in order")
        try log.wait(containing: "history spool read back", timeout: 10)
        XCTAssertFalse(FileManager.default.fileExists(atPath: spool.overflowPath), "the overflow file is removed")
        let dropped = try await loop.submit { writer.value.droppedEvents }.get()
        XCTAssertEqual(dropped, 0)

        await spool.shutdown()
        try await pool.shutdown()
        try await group.shutdownGracefully()
    }
}
