import NIOCore
import SwitchboardCluster
import SwitchboardHistory

/// The hub's side of cluster mode: the ``ClusterNode`` (everything about several servers, in
/// `SwitchboardCluster`), fitted to the hub's tick and fan-out budget. What the hub calls — publish an event,
/// claim or release a name, the end-of-tick flush — goes to the node; what the other servers said is applied
/// while the budget lasts (a ``FanOutWorker``: each payload's bytes, and the lines it fans out, are charged to
/// it), and the rest waits its turn after the tick's flush, so timers and newcomers are served however much
/// the others say. The node reaches the hub only through ``ClusterHost`` (`ChatHub+Cluster.swift`).
///
/// Ownership: the hub's event loop, like the hub that owns it.
final class ChatCluster: FanOutWorker {
    let node: ClusterNode
    /// The hub this serves; it owns this, so it outlives it on the loop.
    private unowned let hub: ChatHub
    /// Waiting for fan-out budget (set by the hub).
    private var draining = false

    init(node: ClusterNode, hub: ChatHub) {
        self.node = node
        self.hub = hub
    }

    /// Starts the node; the future completes once this server has the other servers' rosters (or gave up).
    func start() -> EventLoopFuture<Void> {
        node.start { [unowned self] in self.drain() }
    }

    /// In contact with the other servers.
    var inContact: Bool { node.inContact }

    /// How many other servers are heard from (the metrics. servers alive).
    var peerCount: Int { node.peerCount }

    /// Queues `event` for the other servers, sent at the end of this tick.
    func publish(_ event: ClusterEvent) {
        if node.publish(event) { hub.tick.scheduleTask() }
    }

    /// Whether there is anything to send at the end of the tick.
    var hasOutgoing: Bool { node.hasOutgoing }

    /// Sends this tick's events (the hub's end-of-tick task).
    func flush() { node.flush() }

    /// Claims a name for a local member in the database (see ``ClusterNode/claim(_:for:at:)``).
    func claim(_ nickname: String, for id: ConnectionKey, at time: Int64) -> EventLoopFuture<Bool> {
        node.claim(nickname, for: id, at: time)
    }

    /// Whether a claim of `id`'s is with the database now.
    func isClaimPending(_ id: ConnectionKey) -> Bool { node.isClaimPending(id) }

    /// Drops what local member `id` holds in the database (it left, or lost or gave up its name).
    func release(_ id: ConnectionKey) { node.release(id) }

    /// This server had been taken for lost and is live again (the heartbeat said so).
    func rejoined() { node.rejoined() }

    /// Sends what this tick left (the members' leaves), then stops the node's transport.
    func shutdown() -> EventLoopFuture<Void> { node.shutdown() }

    /// Applies what the other servers said while the hub's fan-out budget lasts; parks with the rest. Also
    /// called by the node whenever it has work: makes sure the tick ends with a flush if something waits to
    /// be sent.
    func drain() {
        defer { if node.hasOutgoing { hub.tick.scheduleTask() } }
        guard !hub.tick.isParked(self), !draining else { return }
        draining = true
        defer { draining = false }
        while node.hasInbound {
            guard hub.tick.mayWork else {
                hub.tick.park(self)
                return
            }
            hub.tick.charge(node.applyNext() ?? 0)
        }
    }
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension ChatCluster: Sendable {}
