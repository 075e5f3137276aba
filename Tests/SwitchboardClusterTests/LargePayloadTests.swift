import Foundation
import SwitchboardDatabase
import SwitchboardTestSupport
import XCTest

@testable import SwitchboardCluster

/// Payloads over the NOTIFY limit travel through `cluster_payloads` (``LargePayloadTable``), on a real,
/// migrated PostgreSQL: they arrive in order among the small ones at every other server, the table empties
/// once every listed reader has read them, and what nobody running will read, or what is old, is swept.
final class LargePayloadTests: XCTestCase {
    private var fixture: DatabaseFixture?
    private var transports: [NotifyTransport] = []

    override func tearDown() async throws {
        for transport in transports { await transport.shutdown() }
        transports = []
        if let fixture {
            await fixture.close()
            fixture.database.drop()
        }
        fixture = nil
    }

    /// A migrated database with `count` running servers registered; its parameters and their ids.
    private func database(servers count: Int) async throws -> (PostgresConnectionParameters, [Int64]) {
        let database = try TestDatabases.requirePostgres()
        let fixture = try await DatabaseFixture(database)
        self.fixture = fixture
        _ = try await fixture.migrate()
        var ids: [Int64] = []
        for _ in 0..<count {
            let rows = try await fixture.query(
                "INSERT INTO servers (host, pid, endpoints, version, started_at, heartbeat_at) "
                    + "VALUES ('test', 1, '', 'test', now(), now()) RETURNING id")
            ids.append(try XCTUnwrap(rows.first?.first?.int64))
        }
        guard case .postgres(let parameters) = database.url else { throw TestDatabaseUnavailable(description: "not PostgreSQL") }
        return (parameters, ids)
    }

    private func transport(_ parameters: PostgresConnectionParameters, server: Int64) -> LinkRecorder {
        let transport = NotifyTransport(parameters: parameters, serverID: server, logger: quietLogger)
        transports.append(transport)
        return LinkRecorder(transport)
    }

    private func rowCount() async throws -> Int64 {
        try await fixture?.query("SELECT count(*) FROM cluster_payloads").first?.first?.int64 ?? -1
    }

    /// Lines of 60 000 and 180 000 bytes of U+FFFD (what 60 000 invalid bytes become), a repeat of one
    /// included, arrive whole at both other servers, in order among small payloads; the sender gets only its
    /// small ones back; once both have read them, the rows are gone.
    func testLargePayloadsArriveInOrderAtEveryOtherServerAndTheirRowsGoOnceRead() async throws {
        let (parameters, ids) = try await database(servers: 3)
        let sender = transport(parameters, server: ids[0])
        let receivers = [transport(parameters, server: ids[1]), transport(parameters, server: ids[2])]
        for recorder in [sender] + receivers { try recorder.waitUntilConnected() }

        let sixty = String(repeating: "\u{FFFD}", count: 20_000)
        let hundredEighty = String(repeating: "\u{FFFD}", count: 60_000)
        XCTAssertEqual(sixty.utf8.count, 60_000)
        XCTAssertEqual(hundredEighty.utf8.count, 180_000)
        let justOver = String(repeating: "x", count: NotifyTransport.inlinePayloadLimit + 1)
        let published = ["small 1", sixty, "small 2", hundredEighty, hundredEighty, justOver, "end"]
        for payload in published { XCTAssertTrue(try sender.link.publish(payload)) }

        for recorder in receivers {
            try recorder.waitFor("every payload at a receiver") { $0.payloads.last == "end" }
            XCTAssertEqual(recorder.payloads.map(\.utf8.count), published.map(\.utf8.count))
            XCTAssertEqual(recorder.payloads, published)
            XCTAssertEqual(recorder.link.statistics.readBack, 4)
        }
        try sender.waitFor("the sender's own small payloads") { $0.payloads.last == "end" }
        XCTAssertEqual(sender.payloads, ["small 1", "small 2", "end"], "large payloads are not read back by their sender")
        XCTAssertEqual(sender.link.statistics.stored, 4)
        let deadline = Date(timeIntervalSinceNow: 30)
        while try await rowCount() > 0 {
            guard Date() < deadline else { return XCTFail("rows left: \(try await rowCount())") }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    /// Before it stores a payload a sender sweeps the rows no running server is left to read (their readers
    /// stopped, or none was listed) and rows older than a minute; rows a running server has yet to read stay.
    /// The new row lists every running server but its sender.
    func testASenderSweepsRowsNobodyRunningWillReadAndOldOnes() async throws {
        let (parameters, ids) = try await database(servers: 3)
        let (sender, reader, stopped) = (ids[0], ids[1], ids[2])
        let fixture = try XCTUnwrap(self.fixture)
        _ = try await fixture.query("UPDATE servers SET stopped_at = now() WHERE id = $1", [.integer(stopped)])
        let insert = "INSERT INTO cluster_payloads (origin, unread, payload, created_at) "
            + "VALUES ($1, $2::bigint[], $3, now() - $4::interval) RETURNING id"
        func row(_ unread: [Int64], _ payload: String, age: String = "0 seconds") async throws -> Int64 {
            let rows = try await fixture.query(insert, [
                .integer(sender), .text(LargePayloadTable.arrayLiteral(unread)), .text(payload), .text(age),
            ])
            return try XCTUnwrap(rows.first?.first?.int64)
        }
        _ = try await row([stopped], "its reader stopped")
        _ = try await row([reader], "old", age: "2 minutes")
        let waiting = try await row([reader, stopped], "its reader is running")
        _ = try await row([], "nobody listed")

        let transport = self.transport(parameters, server: sender)
        try transport.waitUntilConnected()
        XCTAssertTrue(try transport.link.publish(String(repeating: "y", count: 10_000)))
        let deadline = Date(timeIntervalSinceNow: 30)
        while transport.link.statistics.stored < 1 {
            guard Date() < deadline else { return XCTFail("the large payload was not stored") }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        let rows = try await fixture.query("SELECT id, payload, unread::text FROM cluster_payloads ORDER BY id")
        XCTAssertEqual(rows.count, 2, "\(rows)")
        XCTAssertEqual(rows.first?[0].int64, waiting)
        XCTAssertEqual(rows.last?[1].string?.utf8.count, 10_000)
        XCTAssertEqual(rows.last?[2].string, "{\(reader)}", "listed: every running server but the sender")
    }

    /// A reference whose row is gone is reported as dropped in its place (the cluster then asks for the
    /// rosters again); a reference from this server itself, or one that is not a reference, is passed over.
    func testAReferenceWhoseRowIsGoneIsReportedAsDroppedInItsPlace() async throws {
        let (parameters, ids) = try await database(servers: 1)
        let recorder = transport(parameters, server: ids[0])
        try recorder.waitUntilConnected()
        let large = "switchboard" + LargePayloadTable.channelSuffix
        _ = try await fixture?.query(
            "SELECT pg_notify('switchboard', 'before'), pg_notify($1, '99 123456'), pg_notify($1, $2), "
                + "pg_notify($1, 'not a reference'), pg_notify('switchboard', 'after')",
            [.text(large), .text("\(ids[0]) 1")])
        try recorder.waitFor("the payload after the references") { $0.payloads.last == "after" }
        let events = recorder.snapshot.events
        XCTAssertEqual(events, [.connected, .payload("before"), .dropped(1), .payload("after")])
        XCTAssertEqual(recorder.link.statistics.dropped, 1)
    }
}
