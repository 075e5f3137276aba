import NIOCore
import SwitchboardDatabase

/// The decisions of history's write-behind queue, as a value: events in, actions out. No I/O, no event
/// loop, no clock: the time comes in with the inputs that need it, and the ``HistoryWriter`` carries the
/// actions out (pool transactions, timers, promises, log lines) — postgres-nio's `ConnectionStateMachine`
/// style.
///
/// ```
/// phase            input                                  → phase             actions
/// idle             enqueue(opened†) · flushRequested · drain → batchDue       startBatchAtEndOfTick
/// idle             enqueue(other)                          → lingering(T)      lingerUntil(T = now + linger)
/// lingering(T)     enqueue(opened†) · flushRequested · drain → batchDue       startBatchAtEndOfTick
/// lingering(T)     lingerTimerFired(now ≥ T)               → writing(n)        startBatch
/// batchDue         writeDue                                → writing(n)        startBatch
/// writing(n)       batchSucceeded                          → batchDue | lingering(T) | idle   resolveVisitors, …
/// writing(n)       batchFailed, to be retried              → waitingToRetry    retryAfter(100 ms, doubling to 2 s)
/// writing(n)       batchFailed, third notTransient in a row → batchDue | idle   dropBatch, resolveVisitors…
/// waitingToRetry   retryTimerFired                         → writing(n)        startBatch
/// ```
/// (A batch due with an empty queue goes back to idle; inputs that do not apply to the phase do nothing.)
/// † a connect without a reserved visitor number; one with a number lingers like any other event.
///
/// Beside the phase, two things about the queue as a whole:
/// ```
/// behind:    database up and (queue ≥ half a limit, or spilling)  → behind(true)   (the hub stops reading
///            queue ≤ a quarter of both limits and not spilling,    → behind(false)   from clients who say
///            or the database is down                                                  lines)
/// spilling:  queue full (events or bytes) and a spool exists       → spool(events)  every event from now on
///            database up, queue ≤ a quarter, no read in flight     → readSpool       read back in order
///            every spooled event read back                         → removeSpool    events queue in memory again
/// ```
///
/// - Connects without a reserved visitor number start a batch at the end of the tick (their welcome waits
///   for the row id); every other event lingers up to ``Configuration/lingerTime`` for company, unless
///   ``Configuration/maximumBatchSize`` events already wait, or a drain is under way. What queues while a
///   batch is written lingers too, unless someone waits for it or it is a quarter of a batch or more
///   (``Configuration/continueAtOnceEvents``): then the next batch follows at once.
/// - "A limit" is ``Configuration/maximumQueuedEvents`` or ``Configuration/maximumQueuedBytes``: the most held in
///   memory. While the database is up the queue is kept short by back-pressure, not by dropping. Past a limit,
///   with a spool (``Configuration/spoolsOverflow``), events go to the spool file in order; without one, or when
///   the spool refuses them, they are dropped and counted, the clients whose lines were lost are named
///   (``Action/linesNotStored(_:)``), and the overflow episode is reported when it starts and, with its count
///   and span, once the queue has drained to half the limit.
///
/// Ownership: a plain value, owned by whoever holds it (the writer keeps it on its event loop).
struct HistoryWriteStateMachine {
    let configuration: Configuration
    private(set) var phase = Phase.idle
    /// The events waiting in memory.
    private var queue = HistoryQueue()
    private var nextSequence: UInt64 = 1
    /// Every event up to and including this sequence number is committed (or was given up on).
    private var settledSequence: UInt64 = 0
    /// Row ids of connections opened and not yet closed.
    private var rowIDs: [ConnectionKey: Int64] = [:]
    private var flushWaiters: [(sequence: UInt64, id: FlushWaiterID)] = []
    private var consecutiveFailures = 0
    private var outageReported = false
    private var fileGoneReportedAt: NIODeadline?
    private var overflow: OverflowEpisode?
    /// Something waits for the events queued while a batch is written or retried (a flush, a welcome's row
    /// id): the next batch starts when this one is done, without lingering.
    private var writeWanted = false
    /// Set by ``drainRequested(_:)``: from then on nothing lingers.
    private(set) var isDraining = false
    /// Bytes of the events waiting (``HistoryEvent/estimatedBytes``).
    var queuedBytes: Int { queue.bytes }
    /// Whether the producers are being held back (the last ``Action/behind(_:)`` said `true`).
    private(set) var isBehind = false
    /// New events go to the spool, not the queue (it overflowed; the spool is not read back yet).
    private(set) var isSpilling = false
    /// Events handed to the spool and not yet read back (or given up on).
    private(set) var spooledEvents = 0
    private var spoolReadInFlight = false

    /// Events dropped because the queue was full or a batch failed permanently.
    private(set) var droppedEvents = 0
    /// Events committed so far.
    private(set) var writtenEvents = 0
    /// Transactions committed so far.
    private(set) var committedBatches = 0

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Events waiting to be written (including a batch being written).
    var queuedEvents: Int { queue.count }

    // MARK: - Inputs

    /// An event to write. `now` times the linger; `wallClock` dates an overflow episode.
    mutating func enqueue(_ event: HistoryEvent, now: NIODeadline, wallClock: Timestamp) -> [Action] {
        let bytes = event.estimatedBytes
        let fits = queuedEvents < configuration.maximumQueuedEvents
            && (queuedBytes + bytes <= configuration.maximumQueuedBytes || queuedEvents == 0)
        if isSpilling || (!fits && configuration.spoolsOverflow) {
            // In order: once one event has gone to the spool, every later one follows it there.
            var actions: [Action] = []
            isSpilling = true
            spooledEvents += 1
            let rowID = event.referencedKey.flatMap { rowIDs[$0] }
            actions.append(.spool([SpooledEvent(sequence: nextSequence, event: event, rowID: rowID)]))
            nextSequence += 1
            updateBehind(into: &actions)
            return actions
        }
        guard fits else {
            var actions: [Action] = []
            drop([event], wallClock: wallClock, into: &actions)
            return actions
        }
        queue.append(event, sequence: nextSequence)
        nextSequence += 1
        var actions: [Action]
        if case .opened(_, _, _, _, nil) = event {
            actions = writeSoon()  // someone's welcome waits for this row id
        } else {  // one opened under a reserved number lingers like the rest: nobody waits for it
            actions = isDraining ? writeSoon() : writeAfterLinger(now: now)
        }
        if !isBehind && !outageReported
            && (queuedEvents >= configuration.highWaterEvents || queuedBytes >= configuration.highWaterBytes)
        {
            isBehind = true
            actions.append(.behind(true))
        }
        return actions
    }

    /// Counts `events` as dropped (an overflow episode), resolves their connections' visitor numbers as
    /// lost, and names the connections whose lines are lost.
    private mutating func drop(_ events: [HistoryEvent], wallClock: Timestamp, into actions: inout [Action]) {
        guard !events.isEmpty else { return }
        droppedEvents += events.count
        if overflow == nil { actions.append(.reportOverflowStarted) }
        overflow = OverflowEpisode(
            dropped: (overflow?.dropped ?? 0) + events.count, from: overflow?.from ?? wallClock, to: wallClock)
        let (resolutions, speakers) = HistoryWriteStateMachine.affected(by: events)
        if !resolutions.isEmpty { actions.append(.resolveVisitors(resolutions)) }
        if !speakers.isEmpty { actions.append(.linesNotStored(speakers)) }
    }

    // MARK: - The spool

    /// The spool could not take these events (disk full, say): they are dropped and counted.
    mutating func spoolAppendFailed(_ events: [SpooledEvent], wallClock: Timestamp) -> [Action] {
        var actions: [Action] = []
        spooledEvents -= events.count
        drop(events.map(\.event), wallClock: wallClock, into: &actions)
        actions += spoolProgress()
        return actions
    }

    /// Spooled events read back, oldest first (empty: the spool had nothing more to give, which ends the
    /// spilling). They queue in memory as if just recorded, keeping their place in the order.
    mutating func spoolRead(_ events: [SpooledEvent]) -> [Action] {
        guard spoolReadInFlight else { return [] }
        spoolReadInFlight = false
        var actions: [Action] = []
        if events.isEmpty {
            // Whatever the count says, the file is done: what it does not hold is not coming.
            spooledEvents = 0
        } else {
            spooledEvents -= events.count
            for spooled in events { queue.append(spooled.event, sequence: spooled.sequence) }
            actions += writeSoon()
        }
        actions += spoolProgress()
        return actions
    }

    /// Reads the spool back when the database is up and the queue has room; ends the spilling once
    /// everything spooled is back.
    private mutating func spoolProgress() -> [Action] {
        var actions: [Action] = []
        if isSpilling && !spoolReadInFlight {
            if spooledEvents <= 0 {
                isSpilling = false
                spooledEvents = 0
                actions.append(.removeSpool)
            } else if !outageReported && queuedEvents <= configuration.lowWaterEvents
                && queuedBytes <= configuration.lowWaterBytes
            {
                spoolReadInFlight = true
                actions.append(.readSpool(
                    maximumEvents: max(1, configuration.lowWaterEvents), maximumBytes: max(1, configuration.lowWaterBytes)))
            }
        }
        updateBehind(into: &actions)
        return actions
    }

    /// Producers are held back while the database is up and the queue is past a high-water mark or the
    /// spool is being read back; released once it is down to the low-water marks, or the database is down.
    private mutating func updateBehind(into actions: inout [Action]) {
        let behind = !outageReported && (isSpilling
            || configuration.pastWaterMark(events: queuedEvents, bytes: queuedBytes, wasBehind: isBehind))
        if behind != isBehind {
            isBehind = behind
            actions.append(.behind(behind))
        }
    }

    /// At a stop that could not write everything: every event not yet committed (the batch in flight
    /// included: if it commits after all, a replay skips it by its sequence number), in order, for the
    /// spool. The machine forgets them.
    mutating func takeUnwritten() -> [SpooledEvent] {
        let events = queue.all.map { queued in
            SpooledEvent(
                sequence: queued.sequence, event: queued.event,
                rowID: queued.event.referencedKey.flatMap { rowIDs[$0] })
        }
        queue.removeAll()
        phase = .idle
        return events
    }

    /// The end of the tick after ``Action/startBatchAtEndOfTick``.
    mutating func writeDue() -> [Action] {
        guard phase == .batchDue else { return [] }
        return startNextBatch()
    }

    /// A linger timer fired. One set for an earlier linger (since cut short) finds `now` before the current
    /// deadline and is ignored.
    mutating func lingerTimerFired(now: NIODeadline) -> [Action] {
        guard case .lingering(let until) = phase, now >= until else { return [] }
        return startNextBatch()
    }

    /// The retry timer fired: try the batch again (with whatever has joined the queue since).
    mutating func retryTimerFired() -> [Action] {
        guard phase == .waitingToRetry else { return [] }
        return startNextBatch()
    }

    /// The batch in flight committed; `rowIDs` are the row ids of the connections it opened.
    mutating func batchSucceeded(rowIDs opened: [ConnectionKey: Int64], now: NIODeadline) -> [Action] {
        guard case .writing(let count) = phase else { return [] }
        var actions: [Action] = []
        if outageReported {
            actions.append(.reportRecovered)
            outageReported = false
        }
        consecutiveFailures = 0
        committedBatches += 1
        writtenEvents += count
        settle(count: count, opened: opened, missing: .notRecorded, into: &actions)
        actions += continueAfterBatch(now: now)
        actions += spoolProgress()
        return actions
    }

    /// The batch in flight failed. `now` paces the file-gone report.
    mutating func batchFailed(_ failure: BatchFailure, now: NIODeadline) -> [Action] {
        guard case .writing(let count) = phase else { return [] }
        consecutiveFailures += 1
        var actions: [Action] = []
        switch failure {
        case .databaseFileGone:
            if fileGoneReportedAt.map({ now >= $0 + configuration.fileGoneReportInterval }) ?? true {
                actions.append(.reportDatabaseFileGone)
                fileGoneReportedAt = now
            }
            outageReported = true
            actions.append(scheduleRetry())
        case .transient, .notTransient:
            if failure == .transient || consecutiveFailures < HistoryWriteStateMachine.attemptsBeforeDropping {
                if !outageReported {
                    actions.append(.reportOutage)
                    outageReported = true
                }
                actions.append(scheduleRetry())
            } else {
                droppedEvents += count
                consecutiveFailures = 0
                actions.append(.dropBatch(events: count))
                let speakers = HistoryWriteStateMachine.affected(by: queue.prefix(count).map(\.event)).speakers
                if !speakers.isEmpty { actions.append(.linesNotStored(speakers)) }
                settle(count: count, opened: [:], missing: .batchDropped, into: &actions)
                actions += continueAfterBatch(now: now)
            }
        }
        updateBehind(into: &actions)
        return actions
    }

    /// Someone waits for everything queued so far to be settled: `id` is woken (perhaps at once) when it is.
    /// Cuts a linger short.
    mutating func flushRequested(_ id: FlushWaiterID) -> [Action] {
        let last = nextSequence - 1
        if last <= settledSequence { return [.wakeFlushWaiters([id])] }
        flushWaiters.append((last, id))
        return writeSoon()
    }

    /// Shutdown: like ``flushRequested(_:)``, and from now on events are written without lingering.
    mutating func drainRequested(_ id: FlushWaiterID) -> [Action] {
        isDraining = true
        return flushRequested(id)
    }

    // MARK: - Transitions

    /// A failing batch is dropped after this many attempts in a row (unless the failure is transient).
    static let attemptsBeforeDropping = 3
    /// Between retries of a failing batch: 100 ms, doubling to 2 s.
    static let retryBackoff = Backoff(first: .milliseconds(100), maximum: .seconds(2))

    /// Starts a batch at the end of the tick, unless one is being written, due, or waiting to retry.
    private mutating func writeSoon() -> [Action] {
        switch phase {
        case .idle, .lingering:
            phase = .batchDue
            return [.startBatchAtEndOfTick]
        case .writing, .waitingToRetry:
            writeWanted = true  // the next batch starts as soon as this one is done
            return []
        case .batchDue:
            return []
        }
    }

    /// Lets the queue gather events for ``Configuration/lingerTime``, so steady chat costs a transaction per
    /// linger period rather than one per line (and the pool thread, which shares the CPU with the event
    /// loop, wakes rarely). Anything that needs the write (a welcome, a read, shutdown) cuts it short.
    private mutating func writeAfterLinger(now: NIODeadline) -> [Action] {
        guard phase == .idle else { return [] }
        if queuedEvents >= configuration.maximumBatchSize { return writeSoon() }
        let until = now + configuration.lingerTime
        phase = .lingering(until: until)
        return [.lingerUntil(until)]
    }

    private mutating func startNextBatch() -> [Action] {
        writeWanted = false
        guard queuedEvents > 0 else {
            phase = .idle
            return []
        }
        let count = min(queuedEvents, configuration.maximumBatchSize)
        var events: [HistoryEvent] = []
        events.reserveCapacity(count)
        var known: [ConnectionKey: Int64] = [:]
        var lastSequence: UInt64 = 0
        for queued in queue.prefix(count) {
            lastSequence = queued.sequence
            events.append(queued.event)
            if let key = queued.event.referencedKey, let id = rowIDs[key] { known[key] = id }
        }
        phase = .writing(count: count)
        return [.startBatch(Batch(events: events, knownRowIDs: known, lastSequence: lastSequence))]
    }

    /// After a batch settled: the rest of the queue goes at the end of the tick, so what the settled batch's
    /// promises cause (a welcome's first line) joins it.
    /// After a batch: what was queued during it is written at once when someone waits for it (a flush, a
    /// welcome waiting for its row id, shutdown) or when it is a large part of a batch (a flood: back to back,
    /// at the database's pace); a few events linger like any others. Writing a few at once made churn a
    /// transaction per 4 or 5 connections (735 a second with 1 in flight), each rewriting the same pages.
    private mutating func continueAfterBatch(now: NIODeadline) -> [Action] {
        guard queuedEvents > 0 else {
            phase = .idle
            return []
        }
        if writeWanted || isDraining || isBehind || queuedEvents >= configuration.continueAtOnceEvents {
            phase = .batchDue
            return [.startBatchAtEndOfTick]
        }
        let until = now + configuration.lingerTime
        phase = .lingering(until: until)
        return [.lingerUntil(until)]
    }

    /// Backoff: 100 ms, doubling with each consecutive failure, at most 2 s. The events stay queued.
    private mutating func scheduleRetry() -> Action {
        phase = .waitingToRetry
        return .retryAfter(HistoryWriteStateMachine.retryBackoff.delay(afterFailures: consecutiveFailures))
    }

    /// Removes the first `count` events; hands out visitor numbers (`missing` for an `opened` event without
    /// a row id), forgets closed connections, ends an overflow episode once the queue is down to half the
    /// limit, and wakes the flush waiters whose events are all settled.
    private mutating func settle(
        count: Int, opened: [ConnectionKey: Int64], missing: VisitorOutcome, into actions: inout [Action]
    ) {
        for (key, id) in opened { rowIDs[key] = id }
        var resolutions: [VisitorResolution] = []
        for queued in queue.prefix(count) {
            settledSequence = queued.sequence
            switch queued.event {
            case .opened(let key, _, _, _, _):
                resolutions.append(VisitorResolution(key: key, outcome: opened[key].map(VisitorOutcome.number) ?? missing))
            case .closed(let key, _):
                rowIDs[key] = nil
            case .refused, .message:
                break
            }
        }
        queue.removeFirst(count)
        if !resolutions.isEmpty { actions.append(.resolveVisitors(resolutions)) }
        // Ended at half the limit, not at the first free slot, so a queue hovering at its limit reports one
        // episode rather than one per batch.
        if let episode = overflow, queuedEvents <= configuration.maximumQueuedEvents / 2 {
            overflow = nil
            actions.append(.reportOverflowEpisode(episode))
        }
        if flushWaiters.contains(where: { $0.sequence <= settledSequence }) {
            let settled = settledSequence
            actions.append(.wakeFlushWaiters(flushWaiters.filter { $0.sequence <= settled }.map(\.id)))
            flushWaiters.removeAll { $0.sequence <= settled }
        }
    }
}
