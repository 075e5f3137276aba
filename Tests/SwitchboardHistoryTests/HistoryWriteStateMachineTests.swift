import NIOCore
import XCTest
@testable import SwitchboardHistory
import SwitchboardDatabase

/// The write-behind queue's decisions, input by input, with no database, event loop or clock: time is
/// whatever the test says it is.
final class HistoryWriteStateMachineTests: XCTestCase {
    typealias Machine = HistoryWriteStateMachine
    typealias Action = HistoryWriteStateMachine.Action

    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private let wall = Timestamp(microsecondsSinceEpoch: 1_764_000_000_000_000)

    private func machine(queueLimit: Int = 100, batchSize: Int = 10, linger: TimeAmount = .milliseconds(20)) -> Machine {
        Machine(configuration: .init(maximumQueuedEvents: queueLimit, maximumBatchSize: batchSize, lingerTime: linger))
    }

    private func at(_ milliseconds: Int64) -> NIODeadline { t0 + .milliseconds(milliseconds) }
    private func wall(_ seconds: Int64) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: wall.microsecondsSinceEpoch + seconds * 1_000_000)
    }

    private func opened(_ key: UInt64) -> HistoryEvent {
        .opened(ConnectionKey(key), peer: "p\(key)", nickname: nil, at: wall)
    }

    private func message(_ key: UInt64, _ body: String = "hi") -> HistoryEvent {
        .message(ConnectionKey(key), nickname: "n\(key)", kind: .say, body: body, at: wall)
    }

    private func closed(_ key: UInt64) -> HistoryEvent {
        .closed(ConnectionKey(key), ConnectionSummary(
            nickname: nil, closedAt: wall, reason: "quit", linesIn: 0, linesOut: 0, bytesIn: 0, bytesOut: 0))
    }

    private func refused(_ n: Int) -> HistoryEvent {
        .refused(peer: "r\(n)", reason: "refused: server full", at: wall)
    }

    private func waiter(_ n: UInt64) -> Machine.FlushWaiterID { Machine.FlushWaiterID(rawValue: n) }

    private func resolved(_ key: UInt64, _ outcome: Machine.VisitorOutcome) -> Action {
        .resolveVisitors([Machine.VisitorResolution(key: ConnectionKey(key), outcome: outcome)])
    }

    /// Enqueues `events` at t0 and drives the end-of-tick write; returns the started batch.
    private func startBatch(_ machine: inout Machine, _ events: [HistoryEvent]) -> Machine.Batch? {
        for event in events { _ = machine.enqueue(event, now: t0, wallClock: wall) }
        _ = machine.flushRequested(waiter(999))
        guard case .startBatch(let batch)? = machine.writeDue().first else { return nil }
        return batch
    }

    // MARK: - Starting batches

    /// A connect starts a batch at the end of the tick (a welcome waits for its row id); the rest of the
    /// tick's events join it.
    func testConnectStartsABatchAtTheEndOfTheTick() {
        var machine = machine()
        XCTAssertEqual(machine.enqueue(opened(1), now: t0, wallClock: wall), [.startBatchAtEndOfTick])
        XCTAssertEqual(machine.phase, .batchDue)
        XCTAssertEqual(machine.enqueue(message(1), now: t0, wallClock: wall), [], "joins the batch already due")
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [opened(1), message(1)], knownRowIDs: [:], lastSequence: 2))])
        XCTAssertEqual(machine.phase, .writing(count: 2))
    }

    /// A connect under a visitor number reserved in advance lingers like a chat line: nobody waits for its
    /// row, so it shares the transaction of whatever comes within the linger time.
    func testConnectUnderAReservedNumberLingers() {
        var machine = machine()
        let reserved = HistoryEvent.opened(ConnectionKey(1), peer: "p1", nickname: nil, at: wall, visitor: 42)
        XCTAssertEqual(machine.enqueue(reserved, now: t0, wallClock: wall), [.lingerUntil(at(20))])
        XCTAssertEqual(machine.enqueue(message(1), now: at(5), wallClock: wall), [])
        XCTAssertEqual(machine.lingerTimerFired(now: at(20)), [.startBatch(.init(events: [reserved, message(1)], knownRowIDs: [:], lastSequence: 2))])
    }

    /// A chat line lingers for company: the batch starts when the linger timer fires, with every line
    /// queued meanwhile.
    func testChatLinesLingerThenShareOneBatch() {
        var machine = machine()
        XCTAssertEqual(machine.enqueue(message(1, "a"), now: t0, wallClock: wall), [.lingerUntil(at(20))])
        XCTAssertEqual(machine.phase, .lingering(until: at(20)))
        XCTAssertEqual(machine.enqueue(message(1, "b"), now: at(5), wallClock: wall), [], "one linger at a time")
        XCTAssertEqual(machine.lingerTimerFired(now: at(20)), [
            .startBatch(.init(events: [message(1, "a"), message(1, "b")], knownRowIDs: [:], lastSequence: 2))
        ])
    }

    /// A linger timer left over from a linger that was cut short does nothing when it fires before the
    /// current linger's deadline.
    func testStaleLingerTimerIsIgnored() {
        var machine = machine()
        _ = machine.enqueue(message(1), now: t0, wallClock: wall)
        XCTAssertEqual(machine.enqueue(opened(2), now: at(1), wallClock: wall), [.startBatchAtEndOfTick], "cuts the linger")
        _ = machine.writeDue()
        _ = machine.batchSucceeded(rowIDs: [ConnectionKey(2): 7], now: t0)
        XCTAssertEqual(machine.phase, .idle)
        XCTAssertEqual(machine.enqueue(message(2), now: at(10), wallClock: wall), [.lingerUntil(at(30))])
        XCTAssertEqual(machine.lingerTimerFired(now: at(20)), [], "the first linger's timer")
        XCTAssertEqual(machine.phase, .lingering(until: at(30)))
        XCTAssertEqual(machine.lingerTimerFired(now: at(30)), [
            .startBatch(.init(events: [message(2)], knownRowIDs: [ConnectionKey(2): 7], lastSequence: 3))
        ])
    }

    /// A few events queued while a batch was written linger like any others instead of starting the next
    /// batch at once (under churn that made a transaction per 4 or 5 connections).
    func testAFewEventsQueuedDuringABatchLinger() {
        var machine = machine(batchSize: 12)  // a quarter of a batch: 3 events
        _ = machine.enqueue(message(1), now: t0, wallClock: wall)
        _ = machine.lingerTimerFired(now: at(20))
        XCTAssertEqual(machine.phase, .writing(count: 1))
        _ = machine.enqueue(message(2), now: at(21), wallClock: wall)
        _ = machine.enqueue(closed(2), now: at(22), wallClock: wall)
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: at(25)), [.lingerUntil(at(45))])
        XCTAssertEqual(machine.phase, .lingering(until: at(45)))
        XCTAssertEqual(machine.lingerTimerFired(now: at(45)), [
            .startBatch(.init(events: [message(2), closed(2)], knownRowIDs: [:], lastSequence: 3))
        ])
    }

    /// The next batch follows at once when something waits for what was queued during a batch — a welcome
    /// waiting for its row id, a flush — or when it is a quarter of a batch or more (a flood).
    func testQueuedEventsSomeoneWaitsForOrAFloodDoNotLinger() {
        var machine = machine(batchSize: 12)
        _ = machine.enqueue(message(1), now: t0, wallClock: wall)
        _ = machine.lingerTimerFired(now: at(20))
        XCTAssertEqual(machine.enqueue(opened(2), now: at(21), wallClock: wall), [], "a batch is being written")
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: at(25)), [.startBatchAtEndOfTick], "a welcome waits")
        _ = machine.writeDue()
        _ = machine.enqueue(message(3), now: at(26), wallClock: wall)
        XCTAssertEqual(machine.flushRequested(waiter(1)), [])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(2): 2], now: at(30)), [
            resolved(2, .number(2)), .startBatchAtEndOfTick,
        ], "a flush waits")
        _ = machine.writeDue()
        for n in 4...6 { _ = machine.enqueue(message(UInt64(n)), now: at(31), wallClock: wall) }
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: at(35)), [.wakeFlushWaiters([waiter(1)]), .startBatchAtEndOfTick], "3 of 12: a flood")
    }

    /// With a full batch's worth queued, a line does not linger: its batch starts at the end of the tick.
    func testAFullBatchDoesNotLinger() {
        var machine = machine(batchSize: 1)
        XCTAssertEqual(machine.enqueue(message(1), now: t0, wallClock: wall), [.startBatchAtEndOfTick])
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [message(1)], knownRowIDs: [:], lastSequence: 1))])
    }

    /// Batches hold at most the batch size; the rest follows at the end of the tick after each commit.
    func testBatchesAreBoundedAndFollowEachOther() {
        var machine = machine(batchSize: 2)
        _ = machine.enqueue(opened(1), now: t0, wallClock: wall)
        for n in 1...3 { _ = machine.enqueue(refused(n), now: t0, wallClock: wall) }
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [opened(1), refused(1)], knownRowIDs: [:], lastSequence: 2))])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 5], now: t0), [
            resolved(1, .number(5)), .startBatchAtEndOfTick,
        ])
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [refused(2), refused(3)], knownRowIDs: [:], lastSequence: 4))])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [])
        XCTAssertEqual(machine.phase, .idle)
        XCTAssertEqual(machine.committedBatches, 2)
        XCTAssertEqual(machine.writtenEvents, 4)
        XCTAssertEqual(machine.writeDue(), [], "nothing due")
    }

    /// A later batch gets the row ids its `closed` and `message` events refer to; a closed connection's id
    /// is forgotten once its close is written.
    func testLaterBatchesKnowTheRowIDsTheyReferTo() {
        var machine = machine()
        _ = startBatch(&machine, [opened(1), opened(2)])
        _ = machine.batchSucceeded(rowIDs: [ConnectionKey(1): 10, ConnectionKey(2): 11], now: t0)
        let second = startBatch(&machine, [message(1), closed(2)])
        XCTAssertEqual(second?.knownRowIDs, [ConnectionKey(1): 10, ConnectionKey(2): 11])
        _ = machine.batchSucceeded(rowIDs: [:], now: t0)
        let third = startBatch(&machine, [message(1), message(2)])
        XCTAssertEqual(third?.knownRowIDs, [ConnectionKey(1): 10], "#2 was closed")
    }

    // MARK: - Visitor numbers

    /// A committed batch hands out the visitor numbers of the connections it opened.
    func testSuccessResolvesVisitorNumbers() {
        var machine = machine()
        _ = startBatch(&machine, [opened(1), message(1), opened(2)])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 41, ConnectionKey(2): 42], now: t0), [
            .resolveVisitors([.init(key: ConnectionKey(1), outcome: .number(41)), .init(key: ConnectionKey(2), outcome: .number(42))]),
            .wakeFlushWaiters([waiter(999)]),
        ])
    }

    /// An `opened` event whose batch committed without a row id for it is reported as not recorded.
    func testSuccessWithoutARowIDIsNotRecorded() {
        var machine = machine()
        _ = startBatch(&machine, [opened(1)])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0).first, resolved(1, .notRecorded))
    }

    // MARK: - Failures

    /// A transient failure keeps the batch queued and retries it: 100 ms, doubling, at most 2 s; the outage
    /// is reported once, and the recovery once.
    func testTransientFailureRetriesWithBackoffUntilItSucceeds() {
        var machine = machine()
        let batch = startBatch(&machine, [opened(1), message(1)])
        XCTAssertEqual(machine.batchFailed(.transient, now: t0), [.reportOutage, .retryAfter(.milliseconds(100))])
        XCTAssertEqual(machine.phase, .waitingToRetry)
        XCTAssertEqual(machine.enqueue(opened(2), now: t0, wallClock: wall), [], "no batch while waiting to retry")
        XCTAssertEqual(machine.flushRequested(waiter(1)), [])
        var delays: [TimeAmount] = [.milliseconds(100)]
        for _ in 0..<6 {
            guard case .startBatch(let retried)? = machine.retryTimerFired().first else { return XCTFail("no retry") }
            XCTAssertEqual(retried.events.prefix(2), batch?.events.prefix(2), "the same events, first")
            let actions = machine.batchFailed(.transient, now: t0)
            guard case .retryAfter(let delay)? = actions.last, actions.count == 1 else { return XCTFail("\(actions)") }
            delays.append(delay)
        }
        XCTAssertEqual(delays, [100, 200, 400, 800, 1_600, 2_000, 2_000].map { TimeAmount.milliseconds($0) })
        XCTAssertEqual(
            machine.retryTimerFired(),
            [.startBatch(.init(events: [opened(1), message(1), opened(2)], knownRowIDs: [:], lastSequence: 3))],
            "what was queued meanwhile joins the retry")
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 1, ConnectionKey(2): 2], now: t0), [
            .reportRecovered,
            .resolveVisitors([.init(key: ConnectionKey(1), outcome: .number(1)), .init(key: ConnectionKey(2), outcome: .number(2))]),
            .wakeFlushWaiters([waiter(999), waiter(1)]),
        ])
        XCTAssertEqual(machine.droppedEvents, 0)
        _ = startBatch(&machine, [message(1)])
        XCTAssertEqual(machine.batchFailed(.transient, now: t0), [.reportOutage, .retryAfter(.milliseconds(100))],
                       "the backoff starts again after a success")
    }

    /// A batch failing for another reason is retried twice, then dropped: its visitors fail, its flush
    /// waiters wake, and the rest of the queue goes on.
    func testThirdNonTransientFailureDropsTheBatch() {
        var machine = machine(batchSize: 2)
        _ = startBatch(&machine, [opened(1), message(1), refused(1)])
        XCTAssertEqual(machine.batchFailed(.notTransient, now: t0), [.reportOutage, .retryAfter(.milliseconds(100))])
        _ = machine.retryTimerFired()
        XCTAssertEqual(machine.batchFailed(.notTransient, now: t0), [.retryAfter(.milliseconds(200))])
        _ = machine.retryTimerFired()
        XCTAssertEqual(machine.batchFailed(.notTransient, now: t0), [
            .dropBatch(events: 2), .linesNotStored([ConnectionKey(1)]), resolved(1, .batchDropped), .startBatchAtEndOfTick,
        ])
        XCTAssertEqual(machine.droppedEvents, 2)
        XCTAssertEqual(machine.queuedEvents, 1)
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [refused(1)], knownRowIDs: [:], lastSequence: 3))])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.reportRecovered, .wakeFlushWaiters([waiter(999)])])
    }

    /// Transient failures never drop a batch, however many; they count towards the three, though, so a
    /// non-transient failure right after them does.
    func testTransientFailuresNeverDropABatch() {
        var machine = machine()
        _ = startBatch(&machine, [refused(1)])
        for _ in 0..<20 {
            XCTAssertEqual(machine.batchFailed(.transient, now: t0).count { if case .retryAfter = $0 { true } else { false } }, 1)
            _ = machine.retryTimerFired()
        }
        XCTAssertEqual(machine.droppedEvents, 0)
        XCTAssertEqual(machine.batchFailed(.notTransient, now: t0).first, .dropBatch(events: 1))
    }

    /// A SQLite file gone from under the server is reported at once and then at most every 10 s, while
    /// the batch is retried (never dropped).
    func testDatabaseFileGoneIsReportedEveryIntervalAndRetried() {
        var machine = machine()
        _ = startBatch(&machine, [opened(1)])
        var reports: [Int64] = []
        for second in Int64(0)..<25 {
            let actions = machine.batchFailed(.databaseFileGone, now: at(second * 1_000))
            if actions.contains(.reportDatabaseFileGone) { reports.append(second) }
            XCTAssertTrue(actions.last.map { if case .retryAfter = $0 { true } else { false } } ?? false)
            _ = machine.retryTimerFired()
        }
        XCTAssertEqual(reports, [0, 10, 20])
        XCTAssertEqual(machine.droppedEvents, 0)
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 3], now: t0).first, .reportRecovered)
    }

    // MARK: - Overflow

    /// Past the limit, events are dropped and counted; the episode is reported when it starts, and with its
    /// count and span once the queue has drained to half the limit. A dropped connect's visitor fails at once.
    func testOverflowEpisodeIsReportedWhenItStartsAndWhenItEnds() {
        var machine = machine(queueLimit: 4, batchSize: 2)
        for n in 1...4 { _ = machine.enqueue(refused(n), now: t0, wallClock: wall) }
        XCTAssertEqual(machine.enqueue(refused(5), now: t0, wallClock: wall(1)), [.reportOverflowStarted])
        XCTAssertEqual(machine.enqueue(opened(9), now: t0, wallClock: wall(2)), [resolved(9, .queueFull)])
        XCTAssertEqual(machine.enqueue(refused(6), now: t0, wallClock: wall(3)), [])
        XCTAssertEqual(machine.droppedEvents, 3)
        XCTAssertEqual(machine.queuedEvents, 4)

        _ = machine.lingerTimerFired(now: at(20))
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [
            .reportOverflowEpisode(.init(dropped: 3, from: wall(1), to: wall(3))), .startBatchAtEndOfTick,
        ], "two left: half the limit")
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.behind(false)], "reported once (and caught up)")

        // A new episode is a new report.
        for n in 1...4 { _ = machine.enqueue(refused(n), now: t0, wallClock: wall) }
        XCTAssertEqual(machine.enqueue(refused(5), now: t0, wallClock: wall(7)), [.reportOverflowStarted])
        _ = machine.lingerTimerFired(now: at(20))
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0).first, .reportOverflowEpisode(.init(dropped: 1, from: wall(7), to: wall(7))))
    }

    /// A queue hovering at its limit does not end the episode at the first free slot.
    func testOverflowEpisodeLastsUntilHalfTheLimit() {
        var machine = machine(queueLimit: 6, batchSize: 1)
        for n in 1...7 { _ = machine.enqueue(refused(n), now: t0, wallClock: wall) }
        _ = machine.writeDue()  // a batch of one does not linger
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.startBatchAtEndOfTick], "5 left: above half")
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.startBatchAtEndOfTick], "4 left")
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0).first, .reportOverflowEpisode(.init(dropped: 1, from: wall, to: wall)))
    }

    // MARK: - Flushing and shutdown

    /// A flush with nothing unsettled wakes at once; otherwise it cuts a linger short and wakes when every
    /// event queued before it is settled — not waiting for events queued after it.
    func testFlushWaitersWakeWhenTheirEventsAreSettled() {
        var machine = machine()
        XCTAssertEqual(machine.flushRequested(waiter(1)), [.wakeFlushWaiters([waiter(1)])])
        _ = machine.enqueue(message(1, "a"), now: t0, wallClock: wall)
        XCTAssertEqual(machine.flushRequested(waiter(2)), [.startBatchAtEndOfTick], "cuts the linger")
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [message(1, "a")], knownRowIDs: [:], lastSequence: 1))])
        _ = machine.enqueue(message(1, "b"), now: t0, wallClock: wall)
        XCTAssertEqual(machine.flushRequested(waiter(3)), [])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.wakeFlushWaiters([waiter(2)]), .startBatchAtEndOfTick])
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.wakeFlushWaiters([waiter(3)])])
    }

    /// Events given up on (dropped batch) count as settled for flush waiters.
    func testFlushWaitersWakeWhenTheirBatchIsDropped() {
        var machine = machine()
        _ = machine.enqueue(refused(1), now: t0, wallClock: wall)
        _ = machine.flushRequested(waiter(1))
        _ = machine.writeDue()
        for _ in 0..<2 {
            _ = machine.batchFailed(.notTransient, now: t0)
            _ = machine.retryTimerFired()
        }
        XCTAssertEqual(machine.batchFailed(.notTransient, now: t0), [.dropBatch(events: 1), .wakeFlushWaiters([waiter(1)])])
    }

    /// Shutdown drains: a linger is cut short, and events recorded afterwards (the hub closing its clients)
    /// are written at once instead of lingering.
    func testShutdownDrainStopsLingering() {
        var machine = machine()
        _ = machine.enqueue(message(1), now: t0, wallClock: wall)
        XCTAssertEqual(machine.drainRequested(waiter(1)), [.startBatchAtEndOfTick])
        XCTAssertTrue(machine.isDraining)
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.wakeFlushWaiters([waiter(1)])])
        XCTAssertEqual(machine.enqueue(closed(1), now: t0, wallClock: wall), [.startBatchAtEndOfTick], "no linger")
        XCTAssertEqual(machine.drainRequested(waiter(2)), [])
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.wakeFlushWaiters([waiter(2)])])
        XCTAssertEqual(machine.drainRequested(waiter(3)), [.wakeFlushWaiters([waiter(3)])], "nothing left")
    }

    /// A drain while the database is down keeps retrying (shutdown's deadline, not the machine, gives up).
    func testShutdownDrainDuringAnOutageWaitsForTheRetry() {
        var machine = machine()
        _ = startBatch(&machine, [opened(1)])
        _ = machine.batchFailed(.transient, now: t0)
        XCTAssertEqual(machine.drainRequested(waiter(1)), [], "the retry timer is already set")
        XCTAssertEqual(machine.phase, .waitingToRetry)
        _ = machine.retryTimerFired()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 1], now: t0).last, .wakeFlushWaiters([waiter(999), waiter(1)]))
    }

    // MARK: - Back-pressure

    /// While the database is up, a queue past half its event limit holds the producers back (`behind`), and
    /// lets them go once it is down to a quarter — not at the first free slot.
    func testPastHalfTheQueueTheProducersAreHeldBackUntilItIsDownToAQuarter() {
        var machine = machine(queueLimit: 8, batchSize: 2)
        for n in 1...3 { XCTAssertFalse(machine.enqueue(message(UInt64(n)), now: t0, wallClock: wall).contains(.behind(true))) }
        XCTAssertEqual(machine.enqueue(message(4), now: t0, wallClock: wall), [.behind(true)], "4 of 8: half")
        XCTAssertEqual(machine.enqueue(message(5), now: t0, wallClock: wall), [], "said once")
        _ = machine.lingerTimerFired(now: at(20))
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.startBatchAtEndOfTick], "3 left: above a quarter")
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.startBatchAtEndOfTick, .behind(false)], "1 left")
    }

    /// The queue's bytes count too: one long line can be half the byte limit on its own.
    func testLongLinesHoldTheProducersBackByBytes() {
        var machine = Machine(configuration: .init(maximumQueuedEvents: 1_000, maximumQueuedBytes: 4_000, maximumBatchSize: 10, lingerTime: .milliseconds(20)))
        XCTAssertEqual(machine.enqueue(message(1, String(repeating: "x", count: 500)), now: t0, wallClock: wall), [.lingerUntil(at(20))])
        XCTAssertEqual(machine.enqueue(message(1, String(repeating: "x", count: 1_500)), now: t0, wallClock: wall), [.behind(true)])
        XCTAssertGreaterThanOrEqual(machine.queuedBytes, 2_000)
        _ = machine.lingerTimerFired(now: at(20))
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.behind(false)])
        XCTAssertEqual(machine.queuedBytes, 0)
    }

    /// Holding producers back cannot help a database that is down: an outage lets them go (the queue fills,
    /// then spills), and the recovery holds them again while the queue is long.
    func testAnOutageLetsTheProducersGoAndTheRecoveryHoldsThemAgain() {
        var machine = machine(queueLimit: 8, batchSize: 2)
        for n in 1...4 { _ = machine.enqueue(message(UInt64(n)), now: t0, wallClock: wall) }
        XCTAssertTrue(machine.isBehind)
        _ = machine.lingerTimerFired(now: at(20))
        XCTAssertEqual(machine.batchFailed(.transient, now: t0), [.reportOutage, .retryAfter(.milliseconds(100)), .behind(false)])
        XCTAssertEqual(machine.enqueue(message(5), now: t0, wallClock: wall), [], "not behind during the outage")
        XCTAssertEqual(machine.enqueue(message(6), now: t0, wallClock: wall), [])
        _ = machine.retryTimerFired()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.reportRecovered, .startBatchAtEndOfTick, .behind(true)], "4 left")
    }

    // MARK: - The spool

    private func spooled(_ sequence: UInt64, _ event: HistoryEvent, row: Int64? = nil) -> Machine.SpooledEvent {
        Machine.SpooledEvent(sequence: sequence, event: event, rowID: row)
    }

    /// A queue full during an outage sends every later event to the spool, in order, even once there is room
    /// again; the spool is read back when the database is up and the queue is down to a quarter; once
    /// everything spooled is back the spool goes, and a flush waits for the spooled events to be written.
    func testAFullQueueDuringAnOutageSpillsInOrderAndIsReadBackOnceTheDatabaseIsUp() {
        var configuration = Machine.Configuration(maximumQueuedEvents: 4, maximumBatchSize: 2, lingerTime: .milliseconds(20))
        configuration.spoolsOverflow = true
        var machine = Machine(configuration: configuration)
        _ = machine.enqueue(opened(1), now: t0, wallClock: wall)
        _ = machine.writeDue()
        _ = machine.batchSucceeded(rowIDs: [ConnectionKey(1): 10], now: t0)
        _ = machine.enqueue(message(1, "a"), now: t0, wallClock: wall)
        _ = machine.enqueue(message(1, "b"), now: t0, wallClock: wall)
        _ = machine.lingerTimerFired(now: at(20))
        _ = machine.batchFailed(.transient, now: t0)
        _ = machine.enqueue(message(1, "c"), now: t0, wallClock: wall)
        _ = machine.enqueue(message(1, "d"), now: t0, wallClock: wall)
        XCTAssertEqual(machine.queuedEvents, 4, "full")
        XCTAssertEqual(machine.enqueue(message(1, "e"), now: t0, wallClock: wall), [.spool([spooled(6, message(1, "e"), row: 10)])])
        XCTAssertEqual(machine.enqueue(refused(1), now: t0, wallClock: wall), [.spool([spooled(7, refused(1))])])
        XCTAssertEqual(machine.flushRequested(waiter(1)), [])

        _ = machine.retryTimerFired()  // a, b
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.reportRecovered, .startBatchAtEndOfTick, .behind(true)],
                       "room again, but the spool is not read back yet: the producers wait for it")
        XCTAssertEqual(machine.enqueue(message(1, "f"), now: t0, wallClock: wall), [.spool([spooled(8, message(1, "f"), row: 10)])],
                       "still spilling: the spool holds earlier events")
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [message(1, "c"), message(1, "d")], knownRowIDs: [ConnectionKey(1): 10], lastSequence: 5))])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.readSpool(maximumEvents: 1, maximumBytes: 16 << 20)])
        XCTAssertEqual(machine.spoolRead([spooled(6, message(1, "e"), row: 10)]),
                       [.startBatchAtEndOfTick, .readSpool(maximumEvents: 1, maximumBytes: 16 << 20)],
                       "a quarter full: the next read goes out while this one is written")
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [message(1, "e")], knownRowIDs: [ConnectionKey(1): 10], lastSequence: 6))])
        XCTAssertEqual(machine.spoolRead([spooled(7, refused(1)), spooled(8, message(1, "f"), row: 10)]), [.removeSpool])
        XCTAssertFalse(machine.isSpilling)
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.startBatchAtEndOfTick], "2 left: still behind")
        XCTAssertEqual(machine.enqueue(message(1, "g"), now: t0, wallClock: wall), [], "back in memory, joining the batch due")
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [refused(1), message(1, "f")], knownRowIDs: [ConnectionKey(1): 10], lastSequence: 8))])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [.wakeFlushWaiters([waiter(1)]), .startBatchAtEndOfTick, .behind(false)],
                       "the flush asked for while spilling waited for the spooled events")
    }

    /// Events the spool cannot take (disk full) are dropped and counted, and the clients whose lines they
    /// were are named; with nothing left in the spool it is done.
    func testEventsTheSpoolCannotTakeAreDroppedAndTheirSpeakersNamed() {
        var configuration = Machine.Configuration(maximumQueuedEvents: 1, maximumBatchSize: 2, lingerTime: .milliseconds(20))
        configuration.spoolsOverflow = true
        var machine = Machine(configuration: configuration)
        _ = machine.enqueue(message(1), now: t0, wallClock: wall)
        let spilled = machine.enqueue(message(5, "lost"), now: t0, wallClock: wall)
        XCTAssertEqual(spilled, [.spool([spooled(2, message(5, "lost"))])])
        XCTAssertEqual(machine.spoolAppendFailed([spooled(2, message(5, "lost"))], wallClock: wall),
                       [.reportOverflowStarted, .linesNotStored([ConnectionKey(5)]), .removeSpool])
        XCTAssertEqual(machine.droppedEvents, 1)
    }

    /// Without a spool, a full queue drops, and names the clients whose lines are lost.
    func testWithoutASpoolAFullQueueDropsAndNamesTheSpeakers() {
        var machine = machine(queueLimit: 1)
        _ = machine.enqueue(refused(1), now: t0, wallClock: wall)
        XCTAssertEqual(machine.enqueue(message(3), now: t0, wallClock: wall), [.reportOverflowStarted, .linesNotStored([ConnectionKey(3)])])
        XCTAssertEqual(machine.enqueue(closed(3), now: t0, wallClock: wall), [], "a close loses no line")
    }

    /// At a stop, every event not yet committed — the batch in flight included — is handed over for the
    /// spool, in order, with the row ids the machine knew.
    func testTheUnwrittenRestGoesToTheSpoolWithItsRowIDs() {
        var machine = machine(batchSize: 1)
        _ = machine.enqueue(opened(1), now: t0, wallClock: wall)
        _ = machine.writeDue()
        _ = machine.batchSucceeded(rowIDs: [ConnectionKey(1): 10], now: t0)
        _ = machine.enqueue(message(1), now: t0, wallClock: wall)
        _ = machine.enqueue(opened(2), now: t0, wallClock: wall)
        _ = machine.enqueue(closed(1), now: t0, wallClock: wall)
        _ = machine.writeDue()  // message(1) in flight
        XCTAssertEqual(machine.takeUnwritten(), [
            spooled(2, message(1), row: 10), spooled(3, opened(2)), spooled(4, closed(1), row: 10),
        ])
        XCTAssertEqual(machine.queuedEvents, 0)
        XCTAssertEqual(machine.queuedBytes, 0)
    }

    // MARK: - Inputs out of turn

    /// Inputs that do not apply to the phase change nothing.
    func testInputsOutOfTurnDoNothing() {
        var machine = machine()
        XCTAssertEqual(machine.writeDue(), [])
        XCTAssertEqual(machine.retryTimerFired(), [])
        XCTAssertEqual(machine.lingerTimerFired(now: at(100)), [])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:], now: t0), [])
        XCTAssertEqual(machine.batchFailed(.transient, now: t0), [])
        XCTAssertEqual(machine.phase, .idle)
        _ = machine.enqueue(opened(1), now: t0, wallClock: wall)
        XCTAssertEqual(machine.retryTimerFired(), [])
        XCTAssertEqual(machine.phase, .batchDue)
    }
}
