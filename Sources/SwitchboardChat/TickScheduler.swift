import NIOCore

/// The end of the event loop's tick for the chat: who needs a flush, who is closing, the tick's shared lines,
/// the fan-out budget, and who waits for budget.
///
/// ```
///  broadcast ─▶ lines.append ─▶ recipients' outputs take ranges ─▶ markDirty(first line this tick)
///  session/cluster drain ─▶ mayWork? ─ no ─▶ park ─────────────────────────────┐
///                                                                              ▼
///  one task per tick: flushAndClose() ─▶ flush(tick:) every dirty session, closeNow() every closing one
///                                       (repeat while that made more) ─▶ reset lines and budget
///                                       ─▶ after resumeDelay: resume parked workers, oldest first
/// ```
/// Nothing inside a fan-out flushes or closes a channel: they wait for the tick task, which works through
/// lists, so a mass leave is iteration, never recursion; whatever NIO calls back from in there (a close, a
/// read) only queues more work for the next round.
///
/// Ownership: the hub's; every member is used on the hub's event loop only.
final class TickScheduler {
    /// How long parked workers wait before they resume: long enough that the loop polls its sockets first.
    static let resumeDelay = TimeAmount.microseconds(200)

    private let eventLoop: any EventLoop
    /// Output work allowed per tick (`ChatConfiguration.fanOutBytesPerTick`; the hub updates it on reconfigure).
    var budget: Int
    /// Runs first in every tick task (the cluster sends what the tick queued for the other servers).
    var beforeFlush: (() -> Void)?

    /// This tick's broadcast lines, encoded once and shared by every recipient's output.
    private(set) var lines = TickLines()
    private var dirty: [any ChatClient] = []
    private var closing: [any ChatClient] = []
    private var taskScheduled = false
    /// True while channels are flushed or closed: NIO may call back into sessions from in there.
    private(set) var isInCallout = false
    private var spent = 0
    /// Workers waiting for budget, in the order they parked, and the same as a set (a worker parks once).
    private var parked: [any FanOutWorker] = []
    private var parkedSet: Set<ObjectIdentifier> = []
    private var resumeScheduled = false
    private var isResuming = false
    /// Sessions closed for a send queue that stayed over `--max-sendq`, since start (the metrics).
    private(set) var sendQueueDisconnects: Int64 = 0

    init(eventLoop: any EventLoop, budget: Int) {
        self.eventLoop = eventLoop
        self.budget = budget
    }

    /// Whether a worker may work off input now: this tick's budget has room, and no worker that parked earlier
    /// waits for its turn (they go first, in the order they parked, so under a flood every client gets its
    /// share instead of the ones whose reads come first taking every budget).
    var mayWork: Bool { spent < budget && (parked.isEmpty || isResuming) }

    /// Charges `bytes` of output work to this tick's budget.
    func charge(_ bytes: Int) { spent += bytes }

    /// Encodes `text` once into this tick's lines; returns its range for the recipients' outputs.
    func append(_ text: String) -> Range<Int> {
        scheduleTask()  // the task also resets the lines, so it runs even when nobody takes this one
        return lines.append(text)
    }

    /// `session` has unflushed lines (said once per tick per session, by its first line).
    func markDirty(_ session: any ChatClient) {
        dirty.append(session)
        scheduleTask()
    }

    /// Closes `session`'s channel at the end of this tick, after flushing it.
    func scheduleClose(_ session: any ChatClient) {
        closing.append(session)
        scheduleTask()
    }

    /// Whether `worker` waits for its turn.
    func isParked(_ worker: any FanOutWorker) -> Bool { parkedSet.contains(ObjectIdentifier(worker)) }

    /// Parks `worker` until the budget is renewed; it resumes with ``FanOutWorker/drain()``.
    func park(_ worker: any FanOutWorker) {
        guard parkedSet.insert(ObjectIdentifier(worker)).inserted else { return }
        parked.append(worker)
        scheduleTask()
    }

    /// Makes sure a tick task runs (once) after what the loop is doing now.
    func scheduleTask() {
        guard !taskScheduled else { return }
        taskScheduled = true
        eventLoop.assumeIsolated().execute {
            self.taskScheduled = false
            self.flushAndClose()
        }
    }

    /// Flushes every session written to since the last flush, closes those that asked to close (and those
    /// whose send queue stays over `--max-sendq`), renews the budget and schedules the parked workers' turn.
    func flushAndClose() {
        eventLoop.preconditionInEventLoop()
        guard !isInCallout else { return }
        beforeFlush?()
        isInCallout = true
        while !dirty.isEmpty || !closing.isEmpty {
            let toFlush = dirty
            dirty.removeAll(keepingCapacity: true)
            for session in toFlush where !session.flush(tick: lines) {
                sendQueueDisconnects += 1
                session.close(reason: "send queue exceeded")
            }
            let toClose = closing
            closing.removeAll(keepingCapacity: true)
            for session in toClose { session.closeNow() }
        }
        isInCallout = false
        // Every output that took a range of this tick's lines was in `dirty` and has taken it.
        lines.reset()
        spent = 0
        if !parked.isEmpty && !resumeScheduled {
            resumeScheduled = true
            eventLoop.assumeIsolated().scheduleTask(in: TickScheduler.resumeDelay) { self.resumeParked() }
        }
    }

    /// Gives parked workers their turn, oldest first, while the budget lasts. One that runs out parks again at
    /// the back; those that got no turn keep their place at the front.
    private func resumeParked() {
        resumeScheduled = false
        let resuming = parked
        parked.removeAll(keepingCapacity: true)
        isResuming = true
        var index = 0
        while index < resuming.count && spent < budget {
            parkedSet.remove(ObjectIdentifier(resuming[index]))
            resuming[index].drain()
            index += 1
        }
        isResuming = false
        if index < resuming.count { parked.insert(contentsOf: resuming[index...], at: 0) }
        if !parked.isEmpty { scheduleTask() }
    }
}

// Confined to the hub's event loop; see the type's documentation.
@available(*, unavailable)
extension TickScheduler: Sendable {}
