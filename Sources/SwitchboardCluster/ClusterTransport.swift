/// What cluster mode needs from its transport: publish payloads to the other servers, and hand over what
/// they published, in order. ``NotifyTransport`` (PostgreSQL LISTEN/NOTIFY, with a table for large payloads)
/// is the real one; tests use in-memory ones.
///
/// Delivery is "wake once, take all": the transport calls `wake` (on its own thread) when it has something
/// after having had nothing, and the ``ClusterNode`` then takes everything on its loop with ``take()``. So
/// a busy loop costs one task per batch, and what waits is bounded by the transport.
///
/// Sending is paced and bounded by the transport; ``isBacklogged`` says when what waits to be sent is past
/// its high-water mark (the cluster then holds back its producers), and `wake` is called again once it is
/// down to the low-water mark.
package protocol ClusterTransport: AnyObject, Sendable {
    /// Starts; `wake` is called whenever there is something to take after there was nothing, and when a
    /// backlog of payloads to send has drained.
    func start(wake: @escaping @Sendable () -> Void)
    /// Everything received since the last call, in order.
    func take() -> [ClusterTransportEvent]
    /// Queues `payload` (any size) for every server. Returns `false` when it is dropped (no contact, or the
    /// outgoing queue is full).
    @discardableResult func send(_ payload: String) -> Bool
    /// What waits to be sent is past the high-water mark (and not yet back down to the low-water mark).
    var isBacklogged: Bool { get }
    /// Sends what is queued (briefly), then stops.
    func stop() async
}

/// One thing a transport hands over: the one representation of its inbox, from the thread that receives to
/// the state machine that applies it.
public enum ClusterTransportEvent: Sendable, Equatable {
    /// In contact: what is published from now on reaches every server in contact.
    case connected
    /// Contact lost (why, without secrets); once per outage.
    case disconnected(String)
    /// A payload some server published.
    case payload(String)
    /// This many payloads were dropped because this server fell behind (or one could not be read back).
    case dropped(Int)
}
