import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardTestSupport
import XCTest
@testable import SwitchboardCluster
import SwitchboardDatabase
import SwitchboardHistory

/// `NotifyTransport` against a real PostgreSQL (`scripts/with-postgres.sh`; a missing server fails in strict
/// mode), and its `NotifyTransportState` without one. Waits are on conditions with generous deadlines, never
/// on time. (Large payloads, through the table: `LargePayloadTests`.)
final class NotifyTransportTests: XCTestCase {
    private var database: TestDatabase?
    private var links: [NotifyTransport] = []

    override func tearDown() async throws {
        for link in links { await link.shutdown() }
        links = []
        database?.drop()
        database = nil
    }

    /// Links on the shared test server, in a fresh database of this test's own.
    private func parameters() throws -> PostgresConnectionParameters {
        if database == nil { database = try TestDatabases.requirePostgres() }
        guard case .postgres(let parameters)? = database?.url else {
            throw TestDatabaseUnavailable(description: "not PostgreSQL")
        }
        return parameters
    }

    private func makeLink(
        _ parameters: PostgresConnectionParameters, maximumInbox: Int = 10_000, logger: Logger = quietLogger
    ) -> NotifyTransport {
        let link = NotifyTransport(
            parameters: parameters, serverID: Int64(links.count + 1), maximumInbox: maximumInbox, logger: logger)
        links.append(link)
        return link
    }

    // MARK: - Delivery

    /// 5 000 payloads published in a burst by one link arrive at another link and back at the sender, each
    /// exactly once and in the order published.
    func testBurstArrivesOnceAndInOrderAtTheOtherLinkAndAsEcho() async throws {
        let parameters = try parameters()
        let sender = LinkRecorder(makeLink(parameters))
        let receiver = LinkRecorder(makeLink(parameters))
        try sender.waitUntilConnected()
        try receiver.waitUntilConnected()

        let published = (0..<5_000).map { "burst \($0) " + String(repeating: "x", count: $0 % 300) }
        for payload in published { XCTAssertTrue(try sender.link.publish(payload)) }
        // A marker sent after the burst by the other link: once it is in, anything duplicated would be too.
        try receiver.waitFor("all of the burst at the receiver") { $0.payloads.count >= published.count }
        XCTAssertTrue(try receiver.link.publish("end"))
        for recorder in [sender, receiver] {
            try recorder.waitFor("the end marker") { $0.payloads.last == "end" }
            XCTAssertEqual(recorder.payloads, published + ["end"])
            XCTAssertEqual(recorder.connectionEvents, [.connected])
        }
        // The echo may overtake the notify thread's reading of its own statement's answer.
        try waitUntil("the sender's count of confirmed payloads") { sender.link.statistics.sent == published.count }
        let statistics = sender.link.statistics
        XCTAssertEqual(statistics.unsent, 0)
        XCTAssertLessThan(statistics.batches, published.count, "payloads travel in batches")
    }

    /// Payloads up to the 7999-byte NOTIFY limit with quotes, backslashes, SQL, non-ASCII and emoji arrive as
    /// sent, and so does the same payload published several times in a row (PostgreSQL would fold repeats
    /// within one transaction). A payload with NUL is refused by `publish` and never sent.
    func testPayloadsArriveIntactAndOnesWithNULAreRefused() async throws {
        let parameters = try parameters()
        let sender = LinkRecorder(makeLink(parameters))
        let receiver = LinkRecorder(makeLink(parameters))
        try sender.waitUntilConnected()
        try receiver.waitUntilConnected()

        let largest = String(repeating: "é", count: 3_999) + "x"
        XCTAssertEqual(largest.utf8.count, NotifyTransport.inlinePayloadLimit)
        let valid = [
            "", "plain", "it's \"quoted\" 'twice'", #"back\slash \\ \n \0 \x00"#, "'); NOTIFY other, 'x'; --",
            "$1 $2 %s %@", "tab\tnew\nline\r\n", "é à ü ß", "🚀 👩‍👩‍👧 🇫🇷", "same", "same", "same", largest,
            String(repeating: "🚀", count: 1_999) + "abc",
        ]
        XCTAssertEqual(valid.last?.utf8.count, NotifyTransport.inlinePayloadLimit)
        for payload in valid { XCTAssertTrue(try sender.link.publish(payload)) }

        XCTAssertThrowsError(try sender.link.publish("a\u{0}b")) { error in
            XCTAssertEqual(error as? NotifyTransport.PayloadError, .containsNUL)
        }
        XCTAssertTrue(try sender.link.publish("end"))
        for recorder in [receiver, sender] {
            try recorder.waitFor("the end marker") { $0.payloads.last == "end" }
            XCTAssertEqual(recorder.payloads, valid + ["end"])
        }
        XCTAssertEqual(sender.link.statistics.queued, valid.count + 1)
        try waitUntil("the sender's count of confirmed payloads") { sender.link.statistics.sent == valid.count + 1 }
    }

    // MARK: - Back-pressure

    /// A consumer that does not take: with room for 10 payloads, a burst of 1 000 leaves the first 10 in the
    /// inbox and reports the other 990 as dropped, after one wake-up for the whole burst.
    func testSlowConsumerGetsAtMostMaximumInboxAndTheRestCountedAsDropped() async throws {
        let parameters = try parameters()
        let sender = LinkRecorder(makeLink(parameters))
        let slow = makeLink(parameters, maximumInbox: 10)
        let wakes = NIOLockedValueBox(0)
        slow.start(wake: { wakes.withLockedValue { $0 += 1 } })
        try sender.waitUntilConnected()
        try waitUntil("the slow link is connected") { wakes.withLockedValue { $0 } == 1 }
        XCTAssertEqual(slow.take(), [.connected])

        let published = (0..<1_000).map { "p\($0)" }
        for payload in published { XCTAssertTrue(try sender.link.publish(payload)) }
        try waitUntil("the slow link has seen the whole burst, and woken its consumer") {
            let statistics = slow.statistics
            return statistics.received + statistics.dropped == published.count && wakes.withLockedValue { $0 } >= 2
        }
        XCTAssertEqual(slow.take(), published.prefix(10).map(ClusterTransportEvent.payload) + [.dropped(990)])
        XCTAssertEqual(wakes.withLockedValue { $0 }, 2, "one wake-up for the connection, one for the whole burst")
        XCTAssertEqual(slow.statistics.received, 10)
        XCTAssertEqual(slow.statistics.dropped, 990)
        XCTAssertEqual(slow.take(), [])

        // Once taken, there is room again, and the next arrival wakes the consumer again.
        XCTAssertTrue(try sender.link.publish("again"))
        try waitUntil("a wake-up for the next payload") { wakes.withLockedValue { $0 } == 3 }
        XCTAssertEqual(slow.take(), [.payload("again")])
    }

    // MARK: - Contact

    /// The server stops under a connected link: `.disconnected` is reported once however long the outage lasts
    /// (its message without the password), publishing is refused meanwhile, and once the server is back the
    /// link reports `.connected` and carries payloads again. The log has one warning and one info for it.
    func testContactLostAndRegainedIsReportedOnceEach() async throws {
        let cluster = try RestartablePostgresCluster.make()
        // Trust authentication ignores the password; it is there to be kept out of every message.
        let password = "hunter2-secret"
        let parameters = try PostgresConnectionParameters(
            parsing: "postgres://postgres:\(password)@127.0.0.1:\(cluster.port)/postgres")
        let log = CapturedLog()
        var logger = Logger(label: "test") { _ in CapturingLogHandler(log: log) }
        logger.logLevel = .info
        let recorder = LinkRecorder(makeLink(parameters, logger: logger))
        try recorder.waitUntilConnected()
        XCTAssertTrue(try recorder.link.publish("before"))
        try recorder.waitFor("the payload before the outage") { $0.payloads == ["before"] }

        try cluster.stop()
        try recorder.waitFor("the outage") { $0.connectionEvents.count == 2 }
        XCTAssertFalse(try recorder.link.publish("during"), "nothing is queued out of contact")
        // Let reconnection fail a few times (100, 200, 400 ms apart): still one `.disconnected`.
        try waitUntil("several failed reconnection attempts") { recorder.link.statistics.failedAttempts >= 4 }
        XCTAssertEqual(recorder.connectionEvents.count, 2)
        try cluster.start()
        try recorder.waitFor("contact again") { $0.connectionEvents.count == 3 }
        let events = recorder.connectionEvents
        XCTAssertEqual(events.first, .connected)
        XCTAssertEqual(events.last, .connected)
        guard case .disconnected(let message) = events[1] else { return XCTFail("expected .disconnected: \(events)") }
        XCTAssertFalse(message.isEmpty)
        XCTAssertFalse(message.contains(password), message)

        XCTAssertTrue(try recorder.link.publish("after"))
        try recorder.waitFor("the payload after the outage") { $0.payloads == ["before", "after"] }
        XCTAssertEqual(recorder.link.statistics.outages, 1)
        XCTAssertEqual(log.count(level: .warning, containing: "out of contact"), 1, "\(log.lines)")
        XCTAssertEqual(log.count(level: .info, containing: "in contact again"), 1, "\(log.lines)")
        XCTAssertFalse(log.lines.joined().contains(password))
    }

    /// A link whose database is not there reports `.disconnected` once while it keeps trying, refuses to publish,
    /// and still shuts down promptly from its backoff.
    func testUnreachableDatabaseIsOneOutageAndShutdownStillEndsIt() async throws {
        let port = try FreePort.tcp()  // nothing listens there
        let link = makeLink(try PostgresConnectionParameters(parsing: "postgres://postgres@127.0.0.1:\(port)/postgres"))
        let recorder = LinkRecorder(link)
        try recorder.waitFor("the first failed attempt") { !$0.connectionEvents.isEmpty }
        try waitUntil("a few more failed attempts") { link.statistics.failedAttempts >= 4 }
        XCTAssertEqual(link.statistics.outages, 1)
        XCTAssertFalse(try link.publish("nobody hears this"))
        await link.shutdown()
        XCTAssertEqual(link.runningThreads, 0)
        guard case .disconnected(let message)? = recorder.connectionEvents.first else {
            return XCTFail("\(recorder.connectionEvents)")
        }
        XCTAssertTrue(message.contains("\(port)"), "the message says where: \(message)")
        XCTAssertEqual(recorder.connectionEvents.count, 1)
    }

    // MARK: - Shutdown

    /// `shutdown` ends both threads and returns once they are gone; calling it again, concurrently or later,
    /// is harmless; the link is then released. A link shut down before it started never starts.
    func testShutdownIsIdempotentAndLeavesNoThreadRunning() async throws {
        let parameters = try parameters()
        weak var released: NotifyTransport?
        do {
            let link = NotifyTransport(parameters: parameters, serverID: 1, logger: quietLogger)
            released = link
            let recorder = LinkRecorder(link)
            try recorder.waitUntilConnected()
            XCTAssertEqual(link.runningThreads, 2)
            XCTAssertEqual(Self.threadNames().filter { $0.hasPrefix("sb-link-") }.count, 2, "\(Self.threadNames())")
            async let first: Void = link.shutdown()
            async let second: Void = link.shutdown()
            _ = await (first, second)
            await link.shutdown()
            XCTAssertEqual(link.runningThreads, 0)
            XCTAssertFalse(try link.publish("too late"))
            XCTAssertEqual(recorder.connectionEvents, [.connected], "no events after shutdown")
        }
        XCTAssertNil(released, "the threads let go of the link")
        #if os(Linux)
        XCTAssertEqual(Self.threadNames().filter { $0.hasPrefix("sb-link-") }, [], "a link thread is still there")
        #endif

        let neverStarted = NotifyTransport(parameters: parameters, serverID: 1, logger: quietLogger)
        await neverStarted.shutdown()
        neverStarted.start(wake: { XCTFail("a transport shut down before it started must not wake anyone") })
        XCTAssertEqual(neverStarted.runningThreads, 0)
        await neverStarted.shutdown()
    }

    /// The names of this process's threads (Linux: /proc/self/task/*/comm; empty elsewhere).
    private static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    // MARK: - The state machine alone

    /// A batch is cut before the first payload whose bytes repeat an earlier one's, however far apart; payloads
    /// that Swift calls equal but whose bytes differ (composed and decomposed "é") stay together. A payload over
    /// the inline limit is a statement of its own (stored in the table), and cuts the NOTIFYs around it.
    func testBatchIsCutBeforeARepeatAndAroundALargePayload() {
        /// Every statement of `batch`, in order: NOTIFYs as arrays, a stored payload as its length.
        func statements(_ batch: [String], limit: Int = 5) -> [String] {
            var rest = batch[...]
            var cut: [String] = []
            while !rest.isEmpty {
                let (statement, next) = NotifyTransportState.nextStatement(rest, inlineLimit: limit)
                switch statement {
                case .notify(let payloads): cut.append(payloads.joined(separator: ","))
                case .store(let payload): cut.append("stored \(payload.utf8.count)")
                }
                rest = next
            }
            return cut
        }
        XCTAssertEqual(statements(["a", "b", "c"]), ["a,b,c"])
        XCTAssertEqual(statements(["a", "b", "a", "c", "b"]), ["a,b", "a,c,b"])
        XCTAssertEqual(statements(["x", "x"]), ["x", "x"])
        XCTAssertEqual(statements(["", "y", ""]), [",y", ""])
        XCTAssertEqual(statements(["\u{E9}", "e\u{301}"]), ["\u{E9},e\u{301}"])
        XCTAssertEqual(statements(["a", "123456", "b", "c", "1234567", "1234567", "d"]),
                       ["a", "stored 6", "b,c", "stored 7", "stored 7", "d"])
        XCTAssertEqual(statements(["12345", "éé"], limit: 4), ["stored 5", "éé"], "the limit counts UTF-8 bytes")
    }

    /// The statement for n payloads is the n-call prefix of the longest one.
    func testNotifyStatementHasOneCallPerPayload() {
        XCTAssertEqual(NotifyTransport.Shared.notifySQL(count: 1), "SELECT pg_notify($1, $2)")
        XCTAssertEqual(
            NotifyTransport.Shared.notifySQL(count: 3), "SELECT pg_notify($1, $2), pg_notify($1, $3), pg_notify($1, $4)")
        let largest = NotifyTransport.Shared.maximumBatchCount
        XCTAssertTrue(NotifyTransport.Shared.notifySQL(count: largest).hasSuffix(", pg_notify($1, $\(largest + 1))"))
    }

    /// Connection events and drop counts stay in order with payloads; a `.connected` the consumer has not taken
    /// when contact is lost again cancels out with the new `.disconnected`, so a flapping connection cannot
    /// fill the inbox; payloads are kept only while in contact.
    func testInboxKeepsOrderAndStaysBoundedWhileContactFlaps() {
        var state = NotifyTransportState(maximumInbox: 2, maximumOutbox: 10, maximumBatchCount: 10, maximumBatchBytes: 100)
        XCTAssertEqual(state.received(["too early"], generation: 0), .init())
        XCTAssertEqual(state.ready(.listener, generation: 0), .init())
        XCTAssertEqual(state.ready(.notifier, generation: 0), .init(wakeConsumer: true, contactUp: .first))
        XCTAssertEqual(state.received(["a"], generation: 0), .init(wakeConsumer: false))
        _ = state.received(["b", "c", "d"], generation: 0)
        XCTAssertEqual(state.failed(.notifier, generation: 0, message: "gone", established: true).outageBegan, true)
        XCTAssertTrue(state.isOver(0))
        XCTAssertEqual(state.received(["late"], generation: 0), .init(), "nothing is taken out of contact")
        // Flapping: in contact, lost, in contact, lost … without the consumer taking.
        for generation in 1...5 {
            _ = state.ready(.listener, generation: generation)
            XCTAssertEqual(state.ready(.notifier, generation: generation).contactUp, .afterOutage)
            let lost = state.failed(.listener, generation: generation, message: "again", established: true)
            XCTAssertFalse(lost.outageBegan && lost.wakeConsumer)
        }
        XCTAssertEqual(state.takeInbox(), [.connected, .payload("a"), .payload("b"), .dropped(2), .disconnected("gone")])
        XCTAssertEqual(state.takeInbox(), [])
        // A failure to connect after an outage was reported adds nothing; contact again does.
        XCTAssertEqual(state.failed(.listener, generation: 6, message: "refused", established: false), .init())
        _ = state.ready(.listener, generation: 6)
        XCTAssertEqual(state.ready(.notifier, generation: 6).wakeConsumer, true)
        XCTAssertEqual(state.takeInbox(), [.connected])
        XCTAssertEqual(state.statistics.outages, 6)
    }

    /// Batches take payloads in order up to the count and byte limits; the outbox refuses when full (saying so
    /// once per episode) or out of contact, and is emptied when contact is lost.
    func testBatchesAreCutAtTheirLimitsAndTheOutboxIsBounded() {
        var state = NotifyTransportState(maximumInbox: 10, maximumOutbox: 6, maximumBatchCount: 3, maximumBatchBytes: 10)
        XCTAssertEqual(state.publish("x"), .notInContact)
        _ = state.ready(.listener, generation: 0)
        _ = state.ready(.notifier, generation: 0)
        XCTAssertEqual(state.takeBatch(generation: 0, now: .now()), .wait)
        XCTAssertEqual(state.publish("a"), .queued(wakeNotifier: true))
        for payload in ["b", "a", "c", "dddddddddd", "e"] {
            XCTAssertEqual(state.publish(payload), .queued(wakeNotifier: false))
        }
        XCTAssertEqual(state.publish("f"), .outboxFull(firstInEpisode: true))
        XCTAssertEqual(state.publish("g"), .outboxFull(firstInEpisode: false))
        XCTAssertEqual(state.takeBatch(generation: 0, now: .now()), .send(["a", "b", "a"]), "cut at the count limit")
        XCTAssertEqual(state.takeBatch(generation: 0, now: .now()), .send(["c"]), "cut before the byte limit")
        XCTAssertEqual(state.takeBatch(generation: 0, now: .now()), .send(["dddddddddd"]))
        XCTAssertEqual(state.takeBatch(generation: 0, now: .now()), .send(["e"]))
        XCTAssertEqual(state.publish("h"), .queued(wakeNotifier: true))
        XCTAssertEqual(state.takeBatch(generation: 1, now: .now()), .leave, "a stale generation leaves")
        _ = state.failed(.listener, generation: 0, message: "gone", established: true)
        XCTAssertEqual(state.takeBatch(generation: 1, now: .now()), .wait, "the unsent payload was discarded")
        XCTAssertEqual(state.statistics.unsent, 1)
        XCTAssertEqual(state.statistics.refused, 3)
        XCTAssertEqual(state.stop(), .init(wakeThreads: true))
        XCTAssertEqual(state.takeBatch(generation: 1, now: .now()), .leave)
    }

    /// The inbox is bounded in bytes as well as in payloads: once the bytes waiting would pass the bound, that
    /// payload and every later one are counted as dropped, in order; once taken, there is room again.
    func testInboxIsBoundedInBytes() {
        var state = NotifyTransportState(
            maximumInbox: 100, maximumOutbox: 10, maximumBatchCount: 10, maximumBatchBytes: 100, maximumInboxBytes: 10)
        _ = state.ready(.listener, generation: 0)
        _ = state.ready(.notifier, generation: 0)
        _ = state.received(["aaaa", "bbbb", "cc", "d", "e"], generation: 0)
        XCTAssertEqual(state.takeInbox(), [.connected, .payload("aaaa"), .payload("bbbb"), .payload("cc"), .dropped(2)])
        XCTAssertEqual(state.received(["0123456789"], generation: 0).wakeConsumer, true, "room again once taken")
        _ = state.received(["x"], generation: 0)
        XCTAssertEqual(state.takeInbox(), [.payload("0123456789"), .dropped(1)])
        XCTAssertEqual(state.statistics.received, 4)
        XCTAssertEqual(state.statistics.dropped, 3)
    }

    /// The outbox is bounded in bytes: past its high-water mark publishing says the link is backlogged, past its
    /// bound it refuses; once sending brings it down to the low-water mark the backlog ends and the batch that
    /// ended it says to wake the consumer (once). Losing contact ends a backlog too.
    func testOutboxIsBoundedInBytesAndABacklogEndsAtTheLowWaterMark() {
        var state = NotifyTransportState(
            maximumInbox: 10, maximumOutbox: 100, maximumBatchCount: 2, maximumBatchBytes: 100,
            outboxBytes: .init(maximumBytes: 20, highWater: 10, lowWater: 4))
        _ = state.ready(.listener, generation: 0)
        _ = state.ready(.notifier, generation: 0)
        XCTAssertEqual(state.publish("p001"), .queued(wakeNotifier: true, backlogged: false))
        XCTAssertEqual(state.publish("p002"), .queued(wakeNotifier: false, backlogged: false))
        XCTAssertEqual(state.publish("p003"), .queued(wakeNotifier: false, backlogged: true), "12 bytes ≥ 10")
        XCTAssertEqual(state.publish("p004"), .queued(wakeNotifier: false, backlogged: true))
        XCTAssertEqual(state.publish("p005"), .queued(wakeNotifier: false, backlogged: true))
        XCTAssertEqual(state.publish("p006"), .outboxFull(firstInEpisode: true), "24 bytes > 20")
        XCTAssertTrue(state.isBacklogged)
        XCTAssertEqual(state.takeBatch(generation: 0, now: .now()), .send(["p001", "p002"], wakeConsumer: false))
        XCTAssertTrue(state.isBacklogged, "12 bytes left: above the low-water mark")
        XCTAssertEqual(state.takeBatch(generation: 0, now: .now()), .send(["p003", "p004"], wakeConsumer: true))
        XCTAssertFalse(state.isBacklogged)
        XCTAssertEqual(state.takeBatch(generation: 0, now: .now()), .send(["p005"], wakeConsumer: false))
        XCTAssertEqual(state.statistics.backlogs, 1)
        for payload in ["q001", "q002", "q003"] { _ = state.publish(payload) }
        XCTAssertTrue(state.isBacklogged)
        _ = state.failed(.listener, generation: 0, message: "gone", established: true)
        XCTAssertFalse(state.isBacklogged, "nothing waits once contact is lost")
        XCTAssertEqual(state.outboxByteCount, 0)
    }

    /// Sending is paced by a token bucket: a burst goes at once up to the bucket, then the notify thread is told
    /// to wait until the tokens for the next payload are there, and over any stretch of time no more than the
    /// bucket plus the rate's worth is taken.
    func testSendingIsPacedAtTheSendRate() {
        var state = NotifyTransportState(
            maximumInbox: 10, maximumOutbox: 1_000, maximumBatchCount: 100, maximumBatchBytes: 10_000,
            sendRate: .init(bytesPerSecond: 1_000, burst: 100))
        _ = state.ready(.listener, generation: 0)
        _ = state.ready(.notifier, generation: 0)
        let payload = String(repeating: "x", count: 40)
        for _ in 0..<50 { _ = state.publish(payload) }
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        XCTAssertEqual(state.takeBatch(generation: 0, now: start), .send([payload, payload]), "the bucket: 100 bytes")
        guard case .waitUntil(let until) = state.takeBatch(generation: 0, now: start) else {
            return XCTFail("expected a wait for tokens")
        }
        XCTAssertEqual(Double((until - start).nanoseconds) / 1e6, 20, accuracy: 0.01, "20 bytes short at 1000 B/s")
        XCTAssertEqual(state.takeBatch(generation: 0, now: until), .send([payload]))
        // Over the next second, taking whenever allowed: at most the rate's 1000 bytes more.
        var now = until
        var sent = 0
        while now < start + .seconds(1) {
            switch state.takeBatch(generation: 0, now: now) {
            case .send(let batch, _): sent += batch.count * 40
            case .waitUntil(let next): now = next
            default: return XCTFail("unexpected step")
            }
        }
        XCTAssertLessThanOrEqual(sent, 1_000 + 40)
        XCTAssertGreaterThanOrEqual(sent, 1_000 - 80)
    }
}

// MARK: - Helpers

let quietLogger: Logger = {
    var logger = Logger(label: "cluster-link-test")
    logger.logLevel = .critical
    return logger
}()

/// Polls `condition` until it holds, failing after `timeout` — a wait on a condition, not a timed assertion.
func waitUntil(
    _ what: String, timeout: TimeInterval = 60, file: StaticString = #filePath, line: UInt = #line,
    _ condition: () -> Bool
) throws {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while !condition() {
        guard Date() < deadline else {
            XCTFail("timed out waiting for \(what)", file: file, line: line)
            throw CancellationError()
        }
        usleep(5_000)
    }
}

/// Starts a transport and keeps everything it reports, the way the chat layer does: each wake-up takes the
/// whole inbox (here directly on the transport's thread).
///
/// `@unchecked Sendable`: `events` is only read and written with `condition` locked.
final class LinkRecorder: @unchecked Sendable {
    let link: NotifyTransport
    private let condition = NSCondition()
    private var events: [ClusterTransportEvent] = []

    struct Snapshot {
        var events: [ClusterTransportEvent]
        var payloads: [String] {
            events.compactMap { event -> String? in
                if case .payload(let payload) = event { return payload }
                return nil
            }
        }
        var connectionEvents: [ClusterTransportEvent] {
            events.filter { if case .payload = $0 { false } else { true } }
        }
    }

    init(_ link: NotifyTransport) {
        self.link = link
        link.start(wake: { [weak self] in self?.take() })
    }

    private func take() {
        let taken = link.take()
        condition.lock()
        events += taken
        condition.broadcast()
        condition.unlock()
    }

    var snapshot: Snapshot {
        condition.lock()
        defer { condition.unlock() }
        return Snapshot(events: events)
    }

    var payloads: [String] { snapshot.payloads }
    var connectionEvents: [ClusterTransportEvent] { snapshot.connectionEvents }

    /// Waits until `predicate` holds for what was recorded, failing after `timeout`.
    func waitFor(
        _ what: String, timeout: TimeInterval = 60, file: StaticString = #filePath, line: UInt = #line,
        _ predicate: (Snapshot) -> Bool
    ) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while !predicate(Snapshot(events: events)) {
            guard condition.wait(until: deadline) else {
                XCTFail("timed out waiting for \(what); recorded: \(Snapshot(events: events).connectionEvents), "
                    + "\(Snapshot(events: events).payloads.count) payloads", file: file, line: line)
                throw CancellationError()
            }
        }
    }

    func waitUntilConnected(file: StaticString = #filePath, line: UInt = #line) throws {
        try waitFor("contact", file: file, line: line) { $0.connectionEvents.contains(.connected) }
    }
}
