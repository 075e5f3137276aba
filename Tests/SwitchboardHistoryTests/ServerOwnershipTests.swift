import NIOCore
import SwitchboardTestSupport
import XCTest
@testable import SwitchboardHistory
import SwitchboardDatabase

/// The `servers` table (migration 3) and start-up repair by owner: the repository's SQL on both databases,
/// run on a connection of the test's own.
final class ServerOwnershipTests: XCTestCase {
    private func withMigratedConnection(_ body: (any DatabaseConnection, HistoryRepository) throws -> Void) throws {
        try TestDatabases.forEach { database in
            let connection = try DatabasePool.connector(for: database.url)()
            let repository = HistoryRepository(dialect: database.url.dialect)
            _ = try repository.migrate(on: connection)
            try body(connection, repository)
        }
    }

    private func register(_ host: String, pid: Int64, _ repository: HistoryRepository, on connection: any DatabaseConnection) throws -> Int64 {
        try ServerRegistry(dialect: repository.dialect).register(
            ServerRegistration(host: host, pid: pid, endpoints: "tcp:8000", version: "test"), on: connection)
    }

    /// Sets server `id`'s heartbeat `seconds` in the past (both databases read ISO 8601 text).
    private func ageHeartbeat(_ id: Int64, by seconds: Int64, _ dialect: SQLDialect, on connection: any DatabaseConnection) throws {
        let old = Timestamp(microsecondsSinceEpoch: Timestamp.now().microsecondsSinceEpoch - seconds * 1_000_000)
        let sql = dialect == .sqlite
            ? "UPDATE servers SET heartbeat_at = ?1 WHERE id = ?2"
            : "UPDATE servers SET heartbeat_at = $1::timestamptz WHERE id = $2"
        _ = try connection.query(sql, [.text(old.iso8601), .integer(id)])
    }

    /// Opens a connection row owned by `owner` (nil: a row from before migration 3); returns its id.
    private func openRow(_ peer: String, owner: Int64?, _ dialect: SQLDialect, on connection: any DatabaseConnection) throws -> Int64 {
        let repository = HistoryRepository(dialect: dialect, serverID: owner)
        let opened = try connection.transaction { connection throws(DatabaseError) in
            try repository.write(
                [.opened(ConnectionKey(1), peer: peer, nickname: nil, at: Timestamp.now(), visitor: nil)], known: [:],
                on: connection)
        }
        return try XCTUnwrap(opened[ConnectionKey(1)])
    }

    private func openPeers(_ connection: any DatabaseConnection) throws -> Set<String> {
        Set(try connection.query("SELECT peer FROM connections WHERE disconnected_at IS NULL", []).compactMap { $0.first?.string })
    }

    /// Repair closes the rows of a server whose heartbeat is older than the timeout and of a stopped one;
    /// never a live server's; legacy rows (no server) only once no live server is left.
    func testRepairClosesOnlyRowsOfDeadServers() throws {
        try withMigratedConnection { connection, repository in
            let dialect = repository.dialect
            let live = try register("a", pid: 1, repository, on: connection)
            let dead = try register("b", pid: 2, repository, on: connection)
            let stopped = try register("c", pid: 3, repository, on: connection)
            _ = try openRow("legacy", owner: nil, dialect, on: connection)
            _ = try openRow("live", owner: live, dialect, on: connection)
            _ = try openRow("dead", owner: dead, dialect, on: connection)
            _ = try openRow("stopped", owner: stopped, dialect, on: connection)
            try ageHeartbeat(dead, by: 60, dialect, on: connection)
            try ServerRegistry(dialect: repository.dialect).markStopped(stopped, on: connection)
            let me = try register("d", pid: 4, repository, on: connection)

            let closed = try ServerRegistry(dialect: repository.dialect).closeOrphanedConnections(
                at: Timestamp.now(), serverTimeout: .seconds(15), excluding: me, on: connection)
            XCTAssertEqual(closed, 2)
            XCTAssertEqual(try openPeers(connection), ["legacy", "live"])
            let reasons = try connection.query("SELECT close_reason FROM connections WHERE peer = 'dead'", [])
            XCTAssertEqual(reasons.first?.first?.string, "server stopped unexpectedly")

            // The live server's heartbeat ages past the timeout: its rows and the legacy ones go.
            try ageHeartbeat(live, by: 20, dialect, on: connection)
            XCTAssertEqual(
                try ServerRegistry(dialect: repository.dialect).closeOrphanedConnections(
                    at: Timestamp.now(), serverTimeout: .seconds(15), excluding: me, on: connection), 2)
            XCTAssertEqual(try openPeers(connection), [])
        }
    }

    /// With only the caller registered, legacy rows are closed (the caller is excluded); with no `servers`
    /// row at all, too.
    func testLegacyRowsAreClosedWhenNoOtherServerIsLive() throws {
        try withMigratedConnection { connection, repository in
            _ = try openRow("legacy", owner: nil, repository.dialect, on: connection)
            let me = try register("me", pid: 9, repository, on: connection)
            XCTAssertEqual(try ServerRegistry(dialect: repository.dialect).closeOrphanedConnections(at: Timestamp.now(), excluding: me, on: connection), 1)
        }
    }

    /// Live servers: not stopped, heartbeat within the timeout, not the excluded one; a heartbeat brings an
    /// aged server back and is refused for a stopped one; rows written record their server.
    func testLiveServersHeartbeatAndOwnership() throws {
        try withMigratedConnection { connection, repository in
            let dialect = repository.dialect
            let before = Timestamp.now()
            let a = try register("host-a", pid: 42, repository, on: connection)
            let b = try register("host-b", pid: 43, repository, on: connection)
            let c = try register("host-c", pid: 44, repository, on: connection)
            try ServerRegistry(dialect: repository.dialect).markStopped(c, on: connection)
            try ageHeartbeat(b, by: 30, dialect, on: connection)

            let live = try ServerRegistry(dialect: repository.dialect).liveServers(serverTimeout: .seconds(15), on: connection)
            XCTAssertEqual(live.map(\.id), [a])
            XCTAssertEqual(live.first?.host, "host-a")
            XCTAssertEqual(live.first?.pid, 42)
            XCTAssertEqual(live.first?.endpoints, "tcp:8000")
            // started_at is now (PostgreSQL's clock on PostgreSQL: allow a little skew).
            let started = try XCTUnwrap(live.first?.startedAt)
            XCTAssertLessThan(abs(started.microsecondsSinceEpoch - before.microsecondsSinceEpoch), 5_000_000)
            XCTAssertEqual(try ServerRegistry(dialect: repository.dialect).liveServers(serverTimeout: .seconds(15), excluding: a, on: connection), [])
            XCTAssertEqual(try ServerRegistry(dialect: repository.dialect).liveServers(serverTimeout: .seconds(60), on: connection).map(\.id), [a, b])

            XCTAssertTrue(try ServerRegistry(dialect: repository.dialect).heartbeat(serverID: b, on: connection))
            XCTAssertEqual(try ServerRegistry(dialect: repository.dialect).liveServers(serverTimeout: .seconds(15), on: connection).map(\.id), [a, b])
            XCTAssertFalse(try ServerRegistry(dialect: repository.dialect).heartbeat(serverID: c, on: connection), "a stopped server stays stopped")
            try ServerRegistry(dialect: repository.dialect).markGone(a, on: connection)
            XCTAssertEqual(try ServerRegistry(dialect: repository.dialect).liveServers(serverTimeout: .seconds(15), on: connection).map(\.id), [b])

            _ = try openRow("p", owner: b, dialect, on: connection)
            let owners = try connection.query("SELECT server_id FROM connections WHERE peer = 'p'", [])
            XCTAssertEqual(owners.first?.first?.int64, b)
            let stoppedAt = try connection.query("SELECT stopped_at FROM servers WHERE id = \(c)", [])
            XCTAssertNotNil(stoppedAt.first?.first?.string, "stopped_at is set")
        }
    }
}
