import NIOCore
import SwitchboardDatabase

/// The machine's vocabulary: its limits, what goes in and comes out (batches, actions), and its phase.
extension HistoryWriteStateMachine {
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

        /// Events queued while a batch was written that make the next one start at once instead of lingering:
        /// a quarter of a batch (a flood goes back to back; a few connections or lines wait for company).
        var continueAtOnceEvents: Int { max(1, maximumBatchSize / 4) }

        /// Past either high-water mark (half a limit) the producers are held back, while the database is up.
        var highWaterEvents: Int { max(1, maximumQueuedEvents / 2) }
        var highWaterBytes: Int { max(1, maximumQueuedBytes / 2) }
        /// Below both low-water marks (a quarter of each limit) they are read again.
        var lowWaterEvents: Int { maximumQueuedEvents / 4 }
        var lowWaterBytes: Int { maximumQueuedBytes / 4 }

        /// Whether the queue holds back its producers (the database being up): from a high-water mark (half a
        /// limit) until it is down to the low-water marks (a quarter of both) again.
        func pastWaterMark(events: Int, bytes: Int, wasBehind: Bool) -> Bool {
            wasBehind
                ? events > lowWaterEvents || bytes > lowWaterBytes
                : events >= highWaterEvents || bytes >= highWaterBytes
        }
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
        /// Write these events in one transaction; report with ``batchSucceeded(rowIDs:now:)`` or
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

    /// Who is affected when `events` are dropped: the connects waiting for a row id (they get no visitor
    /// number: ``VisitorOutcome/queueFull``), and the clients whose lines were among them.
    static func affected(by events: [HistoryEvent]) -> (resolutions: [VisitorResolution], speakers: Set<ConnectionKey>) {
        var resolutions: [VisitorResolution] = []
        var speakers = Set<ConnectionKey>()
        for event in events {
            switch event {
            case .opened(let key, _, _, _, _): resolutions.append(VisitorResolution(key: key, outcome: .queueFull))
            case .message(let key, _, _, _, _): speakers.insert(key)
            case .closed, .refused: break
            }
        }
        return (resolutions, speakers)
    }
}
