import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardTestSupport
import XCTest
@testable import SwitchboardHistory
import SwitchboardCluster
import SwitchboardDatabase

/// `ServerHeartbeat` on its own thread and connection, against both databases: it rejoins a server the others
/// took for lost (its rows open again), stops promptly, logs a failing episode once; and the statements it and
/// a survivor run (`closeLostServer` deciding lateness itself, the visit total kept by a trigger).
final class ServerHeartbeatTests: XCTestCase {
    private func register(_ repository: HistoryRepository, on connection: any DatabaseConnection) throws -> Int64 {
        try ServerRegistry(dialect: repository.dialect).register(
            ServerRegistration(host: "test", pid: 1, endpoints: "tcp:8000", version: "test"), on: connection)
    }

    /// Sets server `id`'s heartbeat `seconds` in the past (both databases read ISO 8601 text).
    private func ageHeartbeat(_ id: Int64, by seconds: Int64, _ dialect: SQLDialect, on connection: any DatabaseConnection) throws {
        let old = Timestamp(microsecondsSinceEpoch: Timestamp.now().microsecondsSinceEpoch - seconds * 1_000_000)
        let sql = dialect == .sqlite
            ? "UPDATE servers SET heartbeat_at = ?1 WHERE id = ?2"
            : "UPDATE servers SET heartbeat_at = $1::timestamptz WHERE id = $2"
        _ = try connection.query(sql, [.text(old.iso8601), .integer(id)])
    }

    /// Opens a connection row owned by `owner` (closed at once with `closeReason`, if given); returns its id.
    private func row(
        owner: Int64, visitor: Int64, closeReason: String? = nil, _ dialect: SQLDialect, on connection: any DatabaseConnection
    ) throws -> Int64 {
        let repository = HistoryRepository(dialect: dialect, serverID: owner)
        let key = ConnectionKey(UInt64(visitor))
        var events: [HistoryEvent] = [.opened(key, peer: "p\(visitor)", nickname: nil, at: Timestamp.now(), visitor: visitor)]
        if let closeReason {
            events.append(.closed(key, ConnectionSummary(
                nickname: nil, closedAt: Timestamp.now(), reason: closeReason, linesIn: 0, linesOut: 0, bytesIn: 0,
                bytesOut: 0)))
        }
        _ = try connection.transaction { connection throws(DatabaseError) in
            try repository.write(events, known: [:], on: connection)
        }
        return visitor
    }

    private func isOpen(_ row: Int64, _ dialect: SQLDialect, on connection: any DatabaseConnection) throws -> Bool {
        let sql = "SELECT CASE WHEN disconnected_at IS NULL THEN 1 ELSE 0 END AS open FROM connections WHERE id = "
            + (dialect == .sqlite ? "?1" : "$1")
        return try connection.fetch(sql, [.integer(row)]).firstRow?.decode("open", as: Int64.self) == 1
    }

    /// Records what a heartbeat reports, for a test thread to wait on.
    private final class Reports: @unchecked Sendable {
        // @unchecked Sendable: `reports` is only touched with `condition` locked.
        private let condition = NSCondition()
        private var reports: [ServerHeartbeat.Report] = []

        func add(_ report: ServerHeartbeat.Report) {
            condition.lock()
            reports.append(report)
            condition.broadcast()
            condition.unlock()
        }

        func wait(for what: String, timeout: TimeInterval = 30, _ predicate: ([ServerHeartbeat.Report]) -> Bool) throws
            -> [ServerHeartbeat.Report]
        {
            let deadline = Date().addingTimeInterval(timeout)
            condition.lock()
            defer { condition.unlock() }
            while !predicate(reports) {
                guard condition.wait(until: deadline) else {
                    XCTFail("timed out waiting for \(what): \(reports)")
                    throw CancellationError()
                }
            }
            return reports
        }
    }

    private func capturingLogger(_ log: CapturedLog) -> Logger {
        var logger = Logger(label: "heartbeat-test") { _ in CapturingLogHandler(log: log) }
        logger.logLevel = .info
        return logger
    }

    /// A server another server took for lost (its row marked stopped, its open rows closed on its behalf) comes
    /// back by itself at its next beat: the row is live again, the rows it still has open are open again (a row
    /// really closed stays closed), the owner is told once, and the log says so once each way.
    func testAServerTakenForLostRejoinsAtItsNextBeatAndItsRowsReopen() async throws {
        try await TestDatabases.forEach { database in
            let dialect = database.url.dialect
            let connection = try DatabasePool.connector(for: database.url)()
            let repository = HistoryRepository(dialect: dialect)
            _ = try repository.migrate(on: connection)
            let id = try register(repository, on: connection)
            let open = try row(owner: id, visitor: 1_001, dialect, on: connection)
            let closed = try row(owner: id, visitor: 1_002, closeReason: "quit", dialect, on: connection)
            // What a survivor does to a server it takes for lost.
            try ageHeartbeat(id, by: 60, dialect, on: connection)
            if dialect == .postgres {
                let outcome = try connection.transaction { connection throws(DatabaseError) in
                    try ClusterRepository(serverID: 99).closeLostServer(
                        id, serverTimeout: .seconds(15), at: Timestamp.now(), on: connection)
                }
                XCTAssertEqual(outcome, .closed(rows: 1))
            } else {
                try ServerRegistry(dialect: repository.dialect).markGone(id, on: connection)
                XCTAssertEqual(try ServerRegistry(dialect: repository.dialect).closeOrphanedConnections(at: Timestamp.now(), on: connection), 1)
            }
            XCTAssertFalse(try isOpen(open, dialect, on: connection))
            XCTAssertFalse(try ServerRegistry(dialect: repository.dialect).heartbeat(serverID: id, on: connection), "marked stopped")

            let log = CapturedLog()
            let reports = Reports()
            let heartbeat = ServerHeartbeat(
                url: database.url, serverID: id, interval: .milliseconds(20), logger: capturingLogger(log),
                report: reports.add)
            heartbeat.start()
            let seen = try reports.wait(for: "the rejoin") { !$0.isEmpty }
            XCTAssertEqual(seen.first, .rejoined(reopenedRows: 1))
            XCTAssertTrue(try isOpen(open, dialect, on: connection), "still open here: open again")
            XCTAssertFalse(try isOpen(closed, dialect, on: connection), "really closed: stays closed")
            XCTAssertEqual(
                try ServerRegistry(dialect: repository.dialect).liveServers(serverTimeout: .seconds(15), on: connection).map(\.id), [id], "live again")
            let stopped = await heartbeat.stop(within: .seconds(10))
            XCTAssertTrue(stopped)
            XCTAssertEqual(try reports.wait(for: "nothing more") { _ in true }.count, 1, "told once")
            XCTAssertEqual(log.count(level: .warning, containing: "taken for lost"), 1, log.text)
            XCTAssertEqual(log.count(level: .notice, containing: "rejoined"), 1, log.text)
        }
    }

    /// Stopping ends the thread at once between beats (well within the bound it is given), and a stopped
    /// heartbeat never rejoins: a graceful stop marks the row stopped after it, and that must stay so.
    func testStopEndsTheThreadPromptlyAndAStoppedHeartbeatNeverRejoins() async throws {
        try await TestDatabases.forEach { database in
            let connection = try DatabasePool.connector(for: database.url)()
            let repository = HistoryRepository(dialect: database.url.dialect)
            _ = try repository.migrate(on: connection)
            let id = try register(repository, on: connection)
            let reports = Reports()
            let heartbeat = ServerHeartbeat(
                url: database.url, serverID: id, interval: .milliseconds(10), logger: Logger(label: "quiet"),
                report: reports.add)
            heartbeat.start()
            #if os(Linux)
            let deadline = Date().addingTimeInterval(10)
            while !Self.threadNames().contains("sb-heartbeat") && Date() < deadline { usleep(1_000) }
            XCTAssertTrue(Self.threadNames().contains("sb-heartbeat"), "\(Self.threadNames())")
            #endif
            let started = ContinuousClock.now
            let stopped = await heartbeat.stop(within: .seconds(10))
            XCTAssertTrue(stopped, "the thread exited")
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(1), "between beats a stop is immediate")
            #if os(Linux)
            // It told the waiters as its last act; the kernel lets go of it a moment later.
            let gone = Date().addingTimeInterval(10)
            while Self.threadNames().contains("sb-heartbeat") && Date() < gone { usleep(1_000) }
            XCTAssertFalse(Self.threadNames().contains("sb-heartbeat"), "\(Self.threadNames())")
            #endif
            try ServerRegistry(dialect: repository.dialect).markStopped(id, on: connection)
            let again = await heartbeat.stop(within: .seconds(1))
            XCTAssertTrue(again, "again: harmless")
            XCTAssertEqual(try ServerRegistry(dialect: repository.dialect).liveServers(serverTimeout: .seconds(15), on: connection), [])
            XCTAssertEqual(try reports.wait(for: "nothing") { _ in true }, [])
        }
    }

    /// A database that goes away for a while: the first failed beat is logged once (however many fail), the
    /// first good one once with the count; no beat hangs (a stop right after returns at once).
    func testAFailingEpisodeIsLoggedOnceEachWay() async throws {
        let cluster = try RestartablePostgresCluster.make()
        let url = try DatabaseURL(parsing: cluster.url)
        let connection = try DatabasePool.connector(for: url)()
        let repository = HistoryRepository(dialect: .postgres)
        _ = try repository.migrate(on: connection)
        let id = try register(repository, on: connection)
        let log = CapturedLog()
        let heartbeat = ServerHeartbeat(
            url: url, serverID: id, interval: .milliseconds(50), logger: capturingLogger(log), report: { _ in })
        heartbeat.start()
        try cluster.stop()
        try log.wait(containing: "cannot write the heartbeat", timeout: 30)
        try cluster.start()
        try log.wait(containing: "heartbeat written again", timeout: 30)
        let stopped = await heartbeat.stop(within: .seconds(10))
        XCTAssertTrue(stopped)
        XCTAssertEqual(log.count(level: .warning, containing: "cannot write the heartbeat"), 1, log.text)
        XCTAssertEqual(log.count(level: .info, containing: "heartbeat written again"), 1, log.text)
        let written = try XCTUnwrap(log.lines.first { $0.contains("heartbeat written again") })
        XCTAssertFalse(written.contains("failed-beats=1 "), "several beats failed, one line: \(written)")
    }

    /// A survivor's repair of a late server decides lateness itself, by the database's clock, in the statement
    /// that marks it: a server whose heartbeat came back since it was judged late is left alone (a busy
    /// survivor cannot evict a live server), a late one is marked and its rows closed, and a second survivor
    /// finds it gone.
    func testClosingALostServerRechecksItsHeartbeat() throws {
        let database = try TestDatabases.requirePostgres()
        defer { database.drop() }
        let connection = try DatabasePool.connector(for: database.url)()
        let repository = HistoryRepository(dialect: .postgres)
        _ = try repository.migrate(on: connection)
        let id = try register(repository, on: connection)
        _ = try row(owner: id, visitor: 7, .postgres, on: connection)
        let survivor = ClusterRepository(serverID: 99)
        func close() throws -> ClusterRepository.LostServer {
            try connection.transaction { connection throws(DatabaseError) in
                try survivor.closeLostServer(id, serverTimeout: .seconds(15), at: Timestamp.now(), on: connection)
            }
        }
        XCTAssertEqual(try close(), .alive, "a fresh heartbeat: nothing is done")
        XCTAssertTrue(try isOpen(7, .postgres, on: connection))
        try ageHeartbeat(id, by: 60, .postgres, on: connection)
        XCTAssertEqual(try close(), .closed(rows: 1))
        XCTAssertEqual(try close(), .alreadyGone)
        XCTAssertFalse(try isOpen(7, .postgres, on: connection))
    }

    /// On PostgreSQL the visit total is kept per server by a trigger as rows are inserted (refusals not counted,
    /// rows from before servers registered under 0), so it always equals the count of the rows, costs a handful
    /// of rows to read, and the heartbeat's "elsewhere" leaves one server out. On SQLite both are counts.
    func testTheVisitTotalKeptPerServerEqualsTheCountOfRows() throws {
        try TestDatabases.forEach { database in
            let dialect = database.url.dialect
            let connection = try DatabasePool.connector(for: database.url)()
            let repository = HistoryRepository(dialect: dialect)
            _ = try repository.migrate(on: connection)
            let a = try register(repository, on: connection)
            let b = try register(repository, on: connection)
            for visitor in Int64(1)...5 { _ = try row(owner: a, visitor: visitor, dialect, on: connection) }
            for visitor in Int64(6)...8 { _ = try row(owner: b, visitor: visitor, closeReason: "quit", dialect, on: connection) }
            let refused = HistoryRepository(dialect: dialect, serverID: b)
            _ = try connection.transaction { connection throws(DatabaseError) in
                try refused.write([.refused(peer: "x", reason: "refused: server full", at: Timestamp.now(), visitor: 9)],
                                  known: [:], on: connection)
            }
            let legacy = HistoryRepository(dialect: dialect)
            _ = try connection.transaction { connection throws(DatabaseError) in
                try legacy.write(
                    [.opened(ConnectionKey(1), peer: "old", nickname: nil, at: Timestamp.now(), visitor: 10)], known: [:],
                    on: connection)
            }
            let counted = try connection.fetch(
                "SELECT count(*) AS visits FROM connections WHERE close_reason IS NULL OR close_reason NOT LIKE 'refused:%'",
                []).firstRow?.decode("visits", as: Int64.self)
            XCTAssertEqual(counted, 9)
            XCTAssertEqual(try repository.totalVisits(on: connection), 9)
            XCTAssertEqual(try ServerHeartbeat.visitsElsewhere(a, dialect: dialect, on: connection), 4, "b's 3 and 1 legacy")
            XCTAssertEqual(try ServerHeartbeat.visitsElsewhere(b, dialect: dialect, on: connection), 6)
        }
    }

    /// The names of this process's threads (Linux: /proc/self/task/*/comm; empty elsewhere).
    private static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
