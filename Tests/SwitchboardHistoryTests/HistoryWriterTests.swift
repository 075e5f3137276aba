import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase
import SwitchboardHistory

/// History on real databases: every test body runs against SQLite and, when configured, PostgreSQL.
final class HistoryWriterTests: XCTestCase {
    private func summary(_ nickname: String?, _ reason: String, lines: Int64 = 1) -> ConnectionSummary {
        ConnectionSummary(
            nickname: nickname, closedAt: Timestamp.now(), reason: reason,
            linesIn: lines, linesOut: lines * 2, bytesIn: lines * 10, bytesOut: lines * 20)
    }

    /// Visitor numbers are the connection rows' ids, and a burst of events costs few transactions.
    func testBurstIsWrittenInFewTransactionsAndVisitorNumbersAreRowIDs() async throws {
        try await forEachDatabase { db in
            let visitors = try await db.awaitOnLoop { store -> EventLoopFuture<[Int64]> in
                let futures = (1...3).map { n in
                    store.connectionOpened(ConnectionKey(UInt64(n)), peer: "127.0.0.1:\(n)", nickname: nil, at: Timestamp.now())
                }
                for n in 1...300 {
                    store.messageSaid(ConnectionKey(UInt64(n % 3 + 1)), nickname: "guest", kind: .say, body: "line \(n)", at: Timestamp.now())
                }
                return EventLoopFuture.whenAllSucceed(futures, on: store.eventLoop)
            }
            try await db.flush()
            let rows = try await db.query("SELECT id, nickname FROM connections ORDER BY id")
            XCTAssertEqual(rows.map { $0[0].int64 }, visitors.map { Optional($0) })
            XCTAssertEqual(rows.map { $0[1].string }, visitors.map { "guest\($0)" }, "new rows are named guest<id>")
            let messages = try await db.query("SELECT count(*) FROM messages")
            XCTAssertEqual(messages.first?.first?.int64, 300)
            let batches = try await db.onLoop { $0.committedBatches }
            XCTAssertLessThanOrEqual(batches, 3, "303 events must not cost one transaction each")
        }
    }

    /// A closed connection's row gets its end time, reason, final nickname and counters.
    func testClosingFillsTheRow() async throws {
        try await forEachDatabase { db in
            let key = ConnectionKey(7)
            let id = try await db.awaitOnLoop { store in
                store.connectionOpened(key, peer: "[::1]:5000", nickname: nil, at: Timestamp.now())
            }
            let closing = summary("alice", "quit: bye", lines: 4)
            try await db.onLoop { $0.connectionClosed(key, closing) }
            try await db.flush()
            let records = try await db.connections(limit: 10)
            XCTAssertEqual(records.count, 1)
            let record = try XCTUnwrap(records.first)
            XCTAssertEqual(record.id, id)
            XCTAssertEqual(record.peer, "[::1]:5000")
            XCTAssertEqual(record.nickname, "alice")
            XCTAssertEqual(record.closeReason, "quit: bye")
            XCTAssertEqual(record.disconnectedAt, closing.closedAt)
            XCTAssertEqual([record.linesIn, record.linesOut, record.bytesIn, record.bytesOut], [4, 8, 40, 80])
        }
    }

    /// A visit that opens and closes within one batch (most of them under churn) is written as one finished
    /// row: the same row an INSERT and a later UPDATE give, final nickname, guest name and lines said included.
    func testAVisitOpenedAndClosedInOneBatchIsWrittenFinished() async throws {
        try await forEachDatabase { db in
            let connectedAt = Timestamp(microsecondsSinceEpoch: 1_764_083_639_000_000)
            let named = summary("zed", "quit: bye", lines: 3)
            let nameless = summary(nil, "connection closed")
            try await db.onLoop { store in
                // Reserved numbers: the opens linger with the rest, so all of this is one batch.
                _ = store.connectionOpened(ConnectionKey(1), visitor: 5_000, peer: "10.0.0.1:1", nickname: nil, at: connectedAt)
                _ = store.connectionOpened(ConnectionKey(2), visitor: 5_001, peer: "10.0.0.2:2", nickname: nil, at: connectedAt)
                _ = store.connectionOpened(ConnectionKey(3), visitor: 5_002, peer: "10.0.0.3:3", nickname: nil, at: connectedAt)
                store.messageSaid(ConnectionKey(1), nickname: "zed", kind: .say, body: "hello", at: connectedAt)
                store.connectionClosed(ConnectionKey(1), named)
                store.connectionClosed(ConnectionKey(2), nameless)
            }
            try await db.flush()
            let batches = try await db.onLoop { $0.committedBatches }
            XCTAssertEqual(batches, 1, "the opens and closes must have shared one batch for this test to mean anything")
            let records = try await db.connections(limit: 10)
            XCTAssertEqual(records, [
                ConnectionRecord(
                    id: 5_002, peer: "10.0.0.3:3", nickname: "guest5002", connectedAt: connectedAt, disconnectedAt: nil,
                    closeReason: nil, linesIn: 0, linesOut: 0, bytesIn: 0, bytesOut: 0),
                ConnectionRecord(
                    id: 5_001, peer: "10.0.0.2:2", nickname: "guest5001", connectedAt: connectedAt,
                    disconnectedAt: nameless.closedAt, closeReason: "connection closed",
                    linesIn: 1, linesOut: 2, bytesIn: 10, bytesOut: 20),
                ConnectionRecord(
                    id: 5_000, peer: "10.0.0.1:1", nickname: "zed", connectedAt: connectedAt,
                    disconnectedAt: named.closedAt, closeReason: "quit: bye",
                    linesIn: 3, linesOut: 6, bytesIn: 30, bytesOut: 60),
            ])
            let lines = try await db.query("SELECT connection_id, body FROM messages")
            XCTAssertEqual(lines.map { $0[0].int64 }, [5_000])
            XCTAssertEqual(lines.map { $0[1].string }, ["hello"])
        }
    }

    /// `recentMessages` sees a line queued just before it, oldest first; `/me` keeps its kind.
    func testRecentMessagesIncludeLinesQueuedJustBefore() async throws {
        try await forEachDatabase { db in
            let messages = try await db.awaitOnLoop { store -> EventLoopFuture<[StoredMessage]> in
                let key = ConnectionKey(1)
                _ = store.connectionOpened(key, peer: "p", nickname: nil, at: Timestamp.now())
                store.messageSaid(key, nickname: "bob", kind: .say, body: "one", at: Timestamp.now())
                store.messageSaid(key, nickname: "bob", kind: .me, body: "two", at: Timestamp.now())
                store.messageSaid(key, nickname: "bob", kind: .say, body: "three", at: Timestamp.now())
                return store.recentMessages(limit: 2)
            }
            XCTAssertEqual(messages.map(\.body), ["two", "three"])
            XCTAssertEqual(messages.map(\.kind), [.me, .say])
        }
    }

    /// `lastSeen` finds a nickname in any case, from its connection's end or its last line, and answers
    /// with the nickname as it was stored (`/seen carol` → `* Carol was last seen …`).
    func testLastSeenIgnoresCaseAndGivesTheStoredSpelling() async throws {
        try await forEachDatabase { db in
            let closedAt = Timestamp(microsecondsSinceEpoch: 1_764_000_000_123_456)
            let seen = try await db.awaitOnLoop { store -> EventLoopFuture<SeenRecord?> in
                let key = ConnectionKey(1)
                _ = store.connectionOpened(key, peer: "p", nickname: nil, at: Timestamp.now())
                store.connectionClosed(key, ConnectionSummary(
                    nickname: "Carol", closedAt: closedAt, reason: "quit", linesIn: 0, linesOut: 0, bytesIn: 0, bytesOut: 0))
                return store.lastSeen(nickname: "cAROL")
            }
            XCTAssertEqual(seen, SeenRecord(nickname: "Carol", at: closedAt))
            let never = try await db.awaitOnLoop { $0.lastSeen(nickname: "nobody") }
            XCTAssertNil(never)

            // A later line under another spelling wins: the latest sighting gives both time and spelling.
            let saidAt = Timestamp(microsecondsSinceEpoch: 1_764_000_100_000_000)
            let later = try await db.awaitOnLoop { store -> EventLoopFuture<SeenRecord?> in
                let key = ConnectionKey(2)
                _ = store.connectionOpened(key, peer: "p", nickname: nil, at: Timestamp.now())
                store.messageSaid(key, nickname: "CAROL", kind: .say, body: "hi", at: saidAt)
                return store.lastSeen(nickname: "carol")
            }
            XCTAssertEqual(later, SeenRecord(nickname: "CAROL", at: saidAt))
        }
    }

    /// A connection that leaves before its welcome (no nickname yet) keeps its row's name, `guest<id>`.
    func testClosingWithoutANicknameKeepsTheGuestName() async throws {
        try await forEachDatabase { db in
            let key = ConnectionKey(3)
            let id = try await db.awaitOnLoop { store in
                store.connectionOpened(key, peer: "p", nickname: nil, at: Timestamp.now())
            }
            let closing = summary(nil, "connection closed")
            try await db.onLoop { $0.connectionClosed(key, closing) }
            try await db.flush()
            let records = try await db.connections(limit: 1)
            XCTAssertEqual(records.first?.nickname, "guest\(id)")
            XCTAssertEqual(records.first?.closeReason, "connection closed")
        }
    }

    /// Refusals are recorded and use up row ids, but do not count as visits.
    func testRefusalsAreRecordedButAreNotVisits() async throws {
        try await forEachDatabase { db in
            let second = try await db.awaitOnLoop { store -> EventLoopFuture<Int64> in
                _ = store.connectionOpened(ConnectionKey(1), peer: "a", nickname: nil, at: Timestamp.now())
                store.connectionRefused(peer: "b", reason: "refused: server full", at: Timestamp.now())
                return store.connectionOpened(ConnectionKey(2), peer: "c", nickname: nil, at: Timestamp.now())
            }
            XCTAssertEqual(second, 3, "the refusal used up visitor number 2")
            let visits = try await db.withRepository { repository, connection throws(DatabaseError) in
                try repository.totalVisits(on: connection)
            }
            XCTAssertEqual(visits, 2)
            let refused = try await db.query(
                "SELECT close_reason, CASE WHEN disconnected_at IS NOT NULL THEN 1 ELSE 0 END FROM connections WHERE peer = 'b'")
            XCTAssertEqual(refused.count, 1, "the refusal has a row")
            XCTAssertEqual(refused.first?.first?.string, "refused: server full")
            XCTAssertEqual(refused.first?.last?.int64, 1, "a refusal is closed the moment it is recorded")
        }
    }

    /// Rows a killed process left open are closed at start-up with `server stopped unexpectedly`.
    func testOrphanedRowsAreClosedAtStartUp() async throws {
        try await forEachDatabase { db in
            _ = try await db.awaitOnLoop { $0.connectionOpened(ConnectionKey(1), peer: "a", nickname: nil, at: Timestamp.now()) }
            let closeOrphans = { @Sendable () async throws -> Int in
                try await db.withRepository { repository, connection throws(DatabaseError) in
                    try ServerRegistry(dialect: repository.dialect).closeOrphanedConnections(at: Timestamp.now(), on: connection)
                }
            }
            let closed = try await closeOrphans()
            XCTAssertEqual(closed, 1)
            let records = try await db.connections(limit: 5)
            XCTAssertEqual(records.first?.closeReason, "server stopped unexpectedly")
            XCTAssertNotNil(records.first?.disconnectedAt)
            let again = try await closeOrphans()
            XCTAssertEqual(again, 0)
        }
    }

    /// SQL-injection strings in nicknames and messages are stored and read back as plain text.
    func testInjectionStringsRoundTripAsText() async throws {
        try await forEachDatabase { db in
            let evil = "x'); DROP TABLE connections; --"
            let messages = try await db.awaitOnLoop { store -> EventLoopFuture<[StoredMessage]> in
                let key = ConnectionKey(1)
                _ = store.connectionOpened(key, peer: evil, nickname: evil, at: Timestamp.now())
                store.messageSaid(key, nickname: evil, kind: .say, body: evil + " \"quoted\" \\ back", at: Timestamp.now())
                return store.recentMessages(limit: 1)
            }
            XCTAssertEqual(messages.first?.nickname, evil)
            XCTAssertEqual(messages.first?.body, evil + " \"quoted\" \\ back")
            let records = try await db.connections(limit: 1)
            XCTAssertEqual(records.first?.peer, evil)
        }
    }

    /// Past the queue limit, new events are dropped and counted, and the rest are still written.
    func testFullQueueDropsAndCountsEvents() async throws {
        try await forEachDatabase(queueLimit: 5) { db in
            let dropped = try await db.onLoop { store -> Int in
                for n in 1...8 {
                    store.connectionRefused(peer: "p\(n)", reason: "refused: server full", at: Timestamp.now())
                }
                return store.droppedEvents
            }
            XCTAssertEqual(dropped, 3)
            try await db.flush()
            let rows = try await db.query("SELECT count(*) FROM connections")
            XCTAssertEqual(rows.first?.first?.int64, 5)
        }
    }

    /// Each overflow episode is logged when it ends, with how many events it dropped and between when.
    func testEachQueueOverflowEpisodeIsLoggedWithItsCount() async throws {
        try await TestDatabases.forEach { database in
            let log = CapturedLog()
            var logger = Logger(label: "test") { _ in CapturingLogHandler(log: log) }
            logger.logLevel = .info
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let pool = DatabasePool(url: database.url, numberOfThreads: 1, logger: logger)
            pool.start()
            let repository = HistoryRepository(dialect: database.url.dialect)
            _ = try await pool.withConnection { connection throws(DatabaseError) in try repository.migrate(on: connection) }
            let loop = group.next()
            let store = try await loop.submit { [logger] in
                NIOLoopBound(HistoryWriter(pool: pool, eventLoop: loop, logger: logger, maximumQueuedEvents: 5), eventLoop: loop)
            }.get()
            for (round, attempts) in [(1, 8), (2, 11)] {
                // All in one tick, so the writer has not started: the queue fills at 5.
                try await loop.flatSubmit {
                    for n in 1...attempts {
                        store.value.connectionRefused(peer: "r\(round)-\(n)", reason: "refused: server full", at: Timestamp.now())
                    }
                    return store.value.flushed()
                }.get()
            }
            let episodes = log.messages.filter { $0.hasPrefix("history queue overflowed: ") }
            XCTAssertEqual(episodes.count, 2, "[\(database.url.dialect)] \(log.messages)")
            XCTAssertTrue(episodes.first?.hasPrefix("history queue overflowed: dropped 3 events between ") ?? false, "\(episodes)")
            XCTAssertTrue(episodes.last?.hasPrefix("history queue overflowed: dropped 6 events between ") ?? false, "\(episodes)")
            let pattern = #"between \d{4}-\d\d-\d\dT[0-9:.]+Z and \d{4}-\d\d-\d\dT[0-9:.]+Z$"#
            XCTAssertNotNil(episodes.first?.range(of: pattern, options: .regularExpression), "\(episodes)")
            let rows = try await pool.withConnection { connection throws(DatabaseError) in
                try connection.query("SELECT count(*) FROM connections", [])
            }
            XCTAssertEqual(rows.first?.first?.int64, 10, "what fitted in the queue was written")
            try await pool.shutdown()
            try await group.shutdownGracefully()
        }
    }

    /// A transaction rolls back when its body throws (adbapi's runInteraction).
    func testTransactionRollsBackOnThrow() async throws {
        try await forEachDatabase { db in
            let dialect = db.pool.url.dialect
            let insert = "INSERT INTO connections (peer, connected_at) VALUES (\(placeholder(dialect, 1)), \(placeholder(dialect, 2)))"
            do {
                try await db.pool.transaction { connection throws(DatabaseError) in
                    try connection.query(insert, [.text("doomed"), .text(Timestamp.now().iso8601)])
                    throw DatabaseError(.statementFailed, message: "boom")
                }
                XCTFail("the transaction must throw")
            } catch let error as DatabaseError {
                XCTAssertEqual(error.message, "boom")
            }
            let rows = try await db.query("SELECT count(*) FROM connections")
            XCTAssertEqual(rows.first?.first?.int64, 0)
        }
    }
}

extension HistoryWriterTests {
    /// A `/history` or `/seen` read whose pool connections all died while idle (PostgreSQL restarted, backends
    /// terminated) is answered on fresh ones instead of "history is unavailable": reads are retried once per
    /// pool thread when the connection turns out to be lost.
    func testReadsSurviveConnectionsThatDiedWhileIdle() async throws {
        try await forEachDatabase { db in
            guard db.pool.url.dialect == .postgres else { return }  // SQLite connections cannot be killed from outside
            _ = try await db.awaitOnLoop { $0.connectionOpened(ConnectionKey(1), peer: "p", nickname: "ann", at: Timestamp.now()) }
            try await db.onLoop { $0.messageSaid(ConnectionKey(1), nickname: "ann", kind: .say, body: "hi", at: Timestamp.now()) }
            _ = try await db.awaitOnLoop { $0.recentMessages(limit: 1) }  // the pool's connections are open now
            let killer = try DatabasePool.connector(for: db.pool.url)()  // not one of the pool's
            let others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                + "AND backend_type = 'client backend'"
            let terminated = try killer.query("SELECT count(pg_terminate_backend(pid)) " + others, [])
            XCTAssertGreaterThan(terminated.first?.first?.int64 ?? 0, 0)
            // pg_terminate_backend only signals: wait (bounded, on the condition) until the pool's backends are gone.
            var gone = false
            for _ in 0..<2_000 where !gone {
                gone = try killer.query("SELECT count(*) " + others, []).first?.first?.int64 == 0
            }
            XCTAssertTrue(gone, "the pool's backends outlived pg_terminate_backend")
            let messages = try await db.awaitOnLoop { $0.recentMessages(limit: 5) }
            XCTAssertEqual(messages.map(\.body), ["hi"])
        }
    }
}
