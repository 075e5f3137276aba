/// Something that works off queued input in turns of the hub's per-tick fan-out budget: a client's session,
/// or the cluster's inbox (what the other servers said). When ``TickScheduler/mayWork`` says no, it parks
/// (``TickScheduler/park(_:)``, which keeps who is parked) and is resumed with ``drain()`` after the tick's flush, in the order it parked, so
/// under load every worker gets its turn and timers, newcomers and the history writer are served in between.
///
/// Called on the hub's event loop only.
protocol FanOutWorker: AnyObject {
    /// Works off what is queued while the budget lasts; parks again when it runs out.
    func drain()
}

extension ChatSession: FanOutWorker {}
