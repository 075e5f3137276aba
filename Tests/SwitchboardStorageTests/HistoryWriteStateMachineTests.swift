@testable import SwitchboardStorage
import XCTest

/// The write-behind queue's decisions, input by input, with no database, event loop or clock: time is
/// whatever the test says it is.
final class HistoryWriteStateMachineTests: XCTestCase {
    typealias Machine = HistoryWriteStateMachine
    typealias Action = HistoryWriteStateMachine.Action

    private let t0 = Machine.Instant(uptimeNanoseconds: 1_000_000_000)
    private let wall = Timestamp(microsecondsSinceEpoch: 1_764_000_000_000_000)

    private func machine(queueLimit: Int = 100, batchSize: Int = 10, linger: Duration = .milliseconds(20)) -> Machine {
        Machine(configuration: .init(maximumQueuedEvents: queueLimit, maximumBatchSize: batchSize, lingerTime: linger))
    }

    private func at(_ milliseconds: Int) -> Machine.Instant { t0 + .milliseconds(milliseconds) }
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
        _ = machine.batchSucceeded(rowIDs: [ConnectionKey(2): 7])
        XCTAssertEqual(machine.phase, .idle)
        XCTAssertEqual(machine.enqueue(message(2), now: at(10), wallClock: wall), [.lingerUntil(at(30))])
        XCTAssertEqual(machine.lingerTimerFired(now: at(20)), [], "the first linger's timer")
        XCTAssertEqual(machine.phase, .lingering(until: at(30)))
        XCTAssertEqual(machine.lingerTimerFired(now: at(30)), [
            .startBatch(.init(events: [message(2)], knownRowIDs: [ConnectionKey(2): 7], lastSequence: 3))
        ])
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
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 5]), [
            resolved(1, .number(5)), .startBatchAtEndOfTick,
        ])
        XCTAssertEqual(machine.writeDue(), [.startBatch(.init(events: [refused(2), refused(3)], knownRowIDs: [:], lastSequence: 4))])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [])
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
        _ = machine.batchSucceeded(rowIDs: [ConnectionKey(1): 10, ConnectionKey(2): 11])
        let second = startBatch(&machine, [message(1), closed(2)])
        XCTAssertEqual(second?.knownRowIDs, [ConnectionKey(1): 10, ConnectionKey(2): 11])
        _ = machine.batchSucceeded(rowIDs: [:])
        let third = startBatch(&machine, [message(1), message(2)])
        XCTAssertEqual(third?.knownRowIDs, [ConnectionKey(1): 10], "#2 was closed")
    }

    // MARK: - Visitor numbers

    /// A committed batch hands out the visitor numbers of the connections it opened.
    func testSuccessResolvesVisitorNumbers() {
        var machine = machine()
        _ = startBatch(&machine, [opened(1), message(1), opened(2)])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 41, ConnectionKey(2): 42]), [
            .resolveVisitors([.init(key: ConnectionKey(1), outcome: .number(41)), .init(key: ConnectionKey(2), outcome: .number(42))]),
            .wakeFlushWaiters([waiter(999)]),
        ])
    }

    /// An `opened` event whose batch committed without a row id for it is reported as not recorded.
    func testSuccessWithoutARowIDIsNotRecorded() {
        var machine = machine()
        _ = startBatch(&machine, [opened(1)])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]).first, resolved(1, .notRecorded))
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
        var delays: [Duration] = [.milliseconds(100)]
        for _ in 0..<6 {
            guard case .startBatch(let retried)? = machine.retryTimerFired().first else { return XCTFail("no retry") }
            XCTAssertEqual(retried.events.prefix(2), batch?.events.prefix(2), "the same events, first")
            let actions = machine.batchFailed(.transient, now: t0)
            guard case .retryAfter(let delay)? = actions.last, actions.count == 1 else { return XCTFail("\(actions)") }
            delays.append(delay)
        }
        XCTAssertEqual(delays, [100, 200, 400, 800, 1_600, 2_000, 2_000].map { Duration.milliseconds($0) })
        XCTAssertEqual(
            machine.retryTimerFired(),
            [.startBatch(.init(events: [opened(1), message(1), opened(2)], knownRowIDs: [:], lastSequence: 3))],
            "what was queued meanwhile joins the retry")
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 1, ConnectionKey(2): 2]), [
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
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [.reportRecovered, .wakeFlushWaiters([waiter(999)])])
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
        var reports: [Int] = []
        for second in 0..<25 {
            let actions = machine.batchFailed(.databaseFileGone, now: at(second * 1_000))
            if actions.contains(.reportDatabaseFileGone) { reports.append(second) }
            XCTAssertTrue(actions.last.map { if case .retryAfter = $0 { true } else { false } } ?? false)
            _ = machine.retryTimerFired()
        }
        XCTAssertEqual(reports, [0, 10, 20])
        XCTAssertEqual(machine.droppedEvents, 0)
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 3]).first, .reportRecovered)
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
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [
            .reportOverflowEpisode(.init(dropped: 3, from: wall(1), to: wall(3))), .startBatchAtEndOfTick,
        ], "two left: half the limit")
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [.behind(false)], "reported once (and caught up)")

        // A new episode is a new report.
        for n in 1...4 { _ = machine.enqueue(refused(n), now: t0, wallClock: wall) }
        XCTAssertEqual(machine.enqueue(refused(5), now: t0, wallClock: wall(7)), [.reportOverflowStarted])
        _ = machine.lingerTimerFired(now: at(20))
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]).first, .reportOverflowEpisode(.init(dropped: 1, from: wall(7), to: wall(7))))
    }

    /// A queue hovering at its limit does not end the episode at the first free slot.
    func testOverflowEpisodeLastsUntilHalfTheLimit() {
        var machine = machine(queueLimit: 6, batchSize: 1)
        for n in 1...7 { _ = machine.enqueue(refused(n), now: t0, wallClock: wall) }
        _ = machine.writeDue()  // a batch of one does not linger
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [.startBatchAtEndOfTick], "5 left: above half")
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [.startBatchAtEndOfTick], "4 left")
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]).first, .reportOverflowEpisode(.init(dropped: 1, from: wall, to: wall)))
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
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [.wakeFlushWaiters([waiter(2)]), .startBatchAtEndOfTick])
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [.wakeFlushWaiters([waiter(3)])])
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
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [.wakeFlushWaiters([waiter(1)])])
        XCTAssertEqual(machine.enqueue(closed(1), now: t0, wallClock: wall), [.startBatchAtEndOfTick], "no linger")
        XCTAssertEqual(machine.drainRequested(waiter(2)), [])
        _ = machine.writeDue()
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [.wakeFlushWaiters([waiter(2)])])
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
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [ConnectionKey(1): 1]).last, .wakeFlushWaiters([waiter(999), waiter(1)]))
    }

    // MARK: - Inputs out of turn

    /// Inputs that do not apply to the phase change nothing.
    func testInputsOutOfTurnDoNothing() {
        var machine = machine()
        XCTAssertEqual(machine.writeDue(), [])
        XCTAssertEqual(machine.retryTimerFired(), [])
        XCTAssertEqual(machine.lingerTimerFired(now: at(100)), [])
        XCTAssertEqual(machine.batchSucceeded(rowIDs: [:]), [])
        XCTAssertEqual(machine.batchFailed(.transient, now: t0), [])
        XCTAssertEqual(machine.phase, .idle)
        _ = machine.enqueue(opened(1), now: t0, wallClock: wall)
        XCTAssertEqual(machine.retryTimerFired(), [])
        XCTAssertEqual(machine.phase, .batchDue)
    }
}
