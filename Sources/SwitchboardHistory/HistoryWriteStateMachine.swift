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
/// writing(n)       batchSucceeded                          → batchDue | idle   resolveVisitors, wakeFlushWaiters…
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
///   for the row id); everything else — connects under reserved numbers, chat lines, leaves and
///   refusals — lingers up to ``Configuration/lingerTime`` for company, unless ``Configuration/maximumBatchSize``
///   events already wait, or a drain is under way.
/// - A failed batch stays queued and is retried after 100 ms, doubling to 2 s. One that fails for a reason
///   other than reaching the database (``BatchFailure/notTransient``) three times running is dropped.
/// - While the database is up, the queue is kept short by back-pressure, not by dropping: past half of
///   ``Configuration/maximumQueuedEvents`` or ``Configuration/maximumQueuedBytes`` the machine says
///   ``Action/behind(_:)`` `true` (the hub stops reading from the clients who say lines) and `false` once the
///   queue is down to a quarter of both. While the database is down nothing is held back: the queue fills.
/// - At most ``Configuration/maximumQueuedEvents`` events and ``Configuration/maximumQueuedBytes`` bytes
///   wait in memory. Past that, with a spool (``Configuration/spoolsOverflow``), every event goes to the spool
///   file in order (``Action/spool(_:)``) until the database is back and the spool has been read back into
///   the queue; without one, or when the spool refuses them, events are dropped and counted, the clients
///   whose lines were lost are named (``Action/linesNotStored(_:)``), and the overflow episode is reported
///   when it starts and, with its count and span, once the queue has drained to half the limit.
///
/// Ownership: a plain value, owned by whoever holds it (the writer keeps it on its event loop).
struct HistoryWriteStateMachine {
    /// The limits the machine works within.
    struct Configuration: Sendable, Equatable {
        /// Events held in memory, at most; beyond this they are spooled or dropped.
        var maximumQueuedEvents: Int
        /// Bytes of events (``HistoryEvent/estimatedBytes``) held in memory, at most.
        var maximumQueuedBytes: Int
        /// Events per transaction, at most.
        var maximumBatchSize: Int
        /// How long a chat line, leave or refusal may wait for others to share its transaction.
        var lingerTime: TimeAmount
        /// How often a deleted or replaced database file is reported while it lasts.
        var fileGoneReportInterval: TimeAmount = .seconds(10)
        /// Whether events that do not fit go to a spool file (the writer has one) instead of being dropped.
        var spoolsOverflow = false

        init(maximumQueuedEvents: Int, maximumQueuedBytes: Int = 64 << 20, maximumBatchSize: Int, lingerTime: TimeAmount) {
            self.maximumQueuedEvents = max(1, maximumQueuedEvents)
            self.maximumQueuedBytes = max(1, maximumQueuedBytes)
            self.maximumBatchSize = max(1, maximumBatchSize)
            self.lingerTime = lingerTime
        }

        /// Past either high-water mark (half a limit) the producers are held back, while the database is up.
        var highWaterEvents: Int { max(1, maximumQueuedEvents / 2) }
        var highWaterBytes: Int { max(1, maximumQueuedBytes / 2) }
        /// Below both low-water marks (a quarter of each limit) they are read again.
        var lowWaterEvents: Int { maximumQueuedEvents / 4 }
        var lowWaterBytes: Int { maximumQueuedBytes / 4 }
    }

    /// An event on its way to or from the spool: its place in the writer's order, and the row id of the
    /// connection it refers to when the writer knew it (so a replay in another process can do without).
    struct SpooledEvent: Sendable, Equatable {
        var sequence: UInt64
        var event: HistoryEvent
        var rowID: Int64?
    }

    /// Names one ``HistoryWriter/flushed()`` caller, so the machine can say which to wake.
    struct FlushWaiterID: Sendable, Hashable {
        var rawValue: UInt64
    }

    /// Why a batch failed, as far as the machine cares.
    enum BatchFailure: Sendable, Equatable {
        /// Reaching the database failed (connection lost, locked, down): retried for as long as it lasts.
        case transient
        /// The SQLite file was deleted or replaced under the server: retried, and reported now and then.
        case databaseFileGone
        /// Anything else (a statement failed): retried twice, then the batch is dropped.
        case notTransient
    }

    /// What became of a connection's `opened` event: its visitor number, or why there is none.
    enum VisitorOutcome: Sendable, Equatable {
        case number(Int64)
        /// The queue was full; the event was never queued.
        case queueFull
        /// Its batch failed permanently and was dropped.
        case batchDropped
        /// Its batch committed without giving it a row id.
        case notRecorded
    }

    struct VisitorResolution: Sendable, Equatable {
        var key: ConnectionKey
        var outcome: VisitorOutcome
    }

    /// One transaction's worth of events, and the row ids their `closed` and `message` events refer to.
    struct Batch: Sendable, Equatable {
        var events: [HistoryEvent]
        var knownRowIDs: [ConnectionKey: Int64]
        /// The sequence number of its last event: committed with it, so a spool replay can skip it.
        var lastSequence: UInt64 = 0
    }

    /// An overflow episode: how many events were dropped, when the first and the last were.
    struct OverflowEpisode: Sendable, Equatable {
        var dropped: Int
        var from: Timestamp
        var to: Timestamp
    }

    enum Action: Sendable, Equatable {
        /// Call ``writeDue()`` at the end of this event loop tick, so the rest of the tick's events join.
        case startBatchAtEndOfTick
        /// Call ``lingerTimerFired(now:)`` at (or after) this instant.
        case lingerUntil(NIODeadline)
        /// Write these events in one transaction; report with ``batchSucceeded(rowIDs:)`` or
        /// ``batchFailed(_:now:)``.
        case startBatch(Batch)
        /// Call ``retryTimerFired()`` after this long.
        case retryAfter(TimeAmount)
        /// Complete these connections' visitor-number promises.
        case resolveVisitors([VisitorResolution])
        /// Complete these flush waiters: everything queued before they asked is settled.
        case wakeFlushWaiters([FlushWaiterID])
        /// The queue just filled: events are being dropped (say so once).
        case reportOverflowStarted
        /// An overflow episode ended (the queue drained to half the limit).
        case reportOverflowEpisode(OverflowEpisode)
        /// The SQLite file is gone or replaced: history is not being written (repeated every interval).
        case reportDatabaseFileGone
        /// The first failure of an outage: events stay queued and will be retried.
        case reportOutage
        /// A batch committed after an outage: the database is back.
        case reportRecovered
        /// A batch of this many events failed permanently and was dropped.
        case dropBatch(events: Int)
        /// The queue fell behind a database that is up (`true`): stop reading from the clients who say lines;
        /// or caught up, or the database went down (`false`): read them again.
        case behind(Bool)
        /// These connections said lines that will not be stored (dropped): tell them.
        case linesNotStored(Set<ConnectionKey>)
        /// Append these events to the spool file, in order; report with ``spoolAppendFailed(_:)`` if it
        /// cannot.
        case spool([SpooledEvent])
        /// Read the next spooled events back (at most this many, of about this many bytes); report with
        /// ``spoolRead(_:)``.
        case readSpool(maximumEvents: Int, maximumBytes: Int)
        /// Every spooled event has been read back: the spool file can go.
        case removeSpool
    }

    /// What the writer is doing; replaces the old `writing` / `retryScheduled` / `lingerScheduled` flags.
    enum Phase: Sendable, Equatable {
        /// Nothing in flight, no timer that matters.
        case idle
        /// Waiting until this instant for more events to share the transaction.
        case lingering(until: NIODeadline)
        /// A batch starts at the end of this tick.
        case batchDue
        /// A batch of this many events (the first ones queued) is being written.
        case writing(count: Int)
        /// The last batch failed; the retry timer is set.
        case waitingToRetry
    }

    private struct Queued: Sendable {
        var sequence: UInt64
        var event: HistoryEvent
    }

    let configuration: Configuration
    private(set) var phase = Phase.idle
    /// The queue is `queue[head...]`; the settled prefix is trimmed now and then, not per batch.
    private var queue: [Queued] = []
    private var head = 0
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
    /// Set by ``drainRequested(_:)``: from then on nothing lingers.
    private(set) var isDraining = false
    /// Bytes of the events waiting (``HistoryEvent/estimatedBytes``).
    private(set) var queuedBytes = 0
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
    var queuedEvents: Int { queue.count - head }

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
        queue.append(Queued(sequence: nextSequence, event: event))
        nextSequence += 1
        queuedBytes += bytes
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
        if var episode = overflow {
            episode.dropped += events.count
            episode.to = wallClock
            overflow = episode
        } else {
            overflow = OverflowEpisode(dropped: events.count, from: wallClock, to: wallClock)
            actions.append(.reportOverflowStarted)
        }
        var resolutions: [VisitorResolution] = []
        var speakers = Set<ConnectionKey>()
        for event in events {
            switch event {
            case .opened(let key, _, _, _, _): resolutions.append(VisitorResolution(key: key, outcome: .queueFull))
            case .message(let key, _, _, _, _): speakers.insert(key)
            case .closed, .refused: break
            }
        }
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
            for spooled in events {
                queue.append(Queued(sequence: spooled.sequence, event: spooled.event))
                queuedBytes += spooled.event.estimatedBytes
            }
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
        let behind: Bool
        if outageReported {
            behind = false
        } else if isBehind {
            behind = isSpilling || queuedEvents > configuration.lowWaterEvents || queuedBytes > configuration.lowWaterBytes
        } else {
            behind = isSpilling || queuedEvents >= configuration.highWaterEvents
                || queuedBytes >= configuration.highWaterBytes
        }
        if behind != isBehind {
            isBehind = behind
            actions.append(.behind(behind))
        }
    }

    /// At a stop that could not write everything: every event not yet committed (the batch in flight
    /// included: if it commits after all, a replay skips it by its sequence number), in order, for the
    /// spool. The machine forgets them.
    mutating func takeUnwritten() -> [SpooledEvent] {
        let events = queue[head...].map { queued in
            SpooledEvent(
                sequence: queued.sequence, event: queued.event,
                rowID: queued.event.referencedKey.flatMap { rowIDs[$0] })
        }
        queue.removeAll()
        head = 0
        queuedBytes = 0
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
    mutating func batchSucceeded(rowIDs opened: [ConnectionKey: Int64]) -> [Action] {
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
        actions += continueAfterBatch()
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
                var speakers = Set<ConnectionKey>()
                for case .message(let key, _, _, _, _) in queue[head..<head + count].map(\.event) { speakers.insert(key) }
                if !speakers.isEmpty { actions.append(.linesNotStored(speakers)) }
                settle(count: count, opened: [:], missing: .batchDropped, into: &actions)
                actions += continueAfterBatch()
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
        case .batchDue, .writing, .waitingToRetry:
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
        guard queuedEvents > 0 else {
            phase = .idle
            return []
        }
        let count = min(queuedEvents, configuration.maximumBatchSize)
        var events: [HistoryEvent] = []
        events.reserveCapacity(count)
        var known: [ConnectionKey: Int64] = [:]
        for queued in queue[head..<head + count] {
            events.append(queued.event)
            if let key = queued.event.referencedKey, let id = rowIDs[key] { known[key] = id }
        }
        phase = .writing(count: count)
        return [.startBatch(Batch(events: events, knownRowIDs: known, lastSequence: queue[head + count - 1].sequence))]
    }

    /// After a batch settled: the rest of the queue goes at the end of the tick, so what the settled batch's
    /// promises cause (a welcome's first line) joins it.
    private mutating func continueAfterBatch() -> [Action] {
        guard queuedEvents > 0 else {
            phase = .idle
            return []
        }
        phase = .batchDue
        return [.startBatchAtEndOfTick]
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
        for queued in queue[head..<head + count] {
            settledSequence = queued.sequence
            queuedBytes -= queued.event.estimatedBytes
            switch queued.event {
            case .opened(let key, _, _, _, _):
                resolutions.append(VisitorResolution(key: key, outcome: opened[key].map(VisitorOutcome.number) ?? missing))
            case .closed(let key, _):
                rowIDs[key] = nil
            case .refused, .message:
                break
            }
        }
        head += count
        if head >= 1_024 && head * 2 >= queue.count {
            queue.removeFirst(head)
            head = 0
        }
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
