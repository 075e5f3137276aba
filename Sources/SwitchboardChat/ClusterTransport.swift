/// What cluster mode needs from its transport: publish payloads to the other servers, and hand over what
/// they published, in order. ``ClusterLink`` (PostgreSQL LISTEN/NOTIFY) is the real one.
///
/// Delivery is "wake once, take all": the transport calls `wake` (on its own thread) when it has something
/// after having had nothing, and the ``ChatCluster`` then takes everything on its loop with ``take()``. So
/// a busy loop costs one task per batch, and what waits is bounded by the transport.
public protocol ClusterTransport: AnyObject, Sendable {
    /// Starts; `wake` is called whenever there is something to take after there was nothing.
    func start(wake: @escaping @Sendable () -> Void)
    /// Everything received since the last call, in order.
    func take() -> [ClusterTransportEvent]
    /// Queues `payload` for every server (this one included: echoes come back). Returns `false` when it is
    /// dropped (no contact, or the outgoing queue is full).
    @discardableResult func send(_ payload: String) -> Bool
    /// Sends what is queued (briefly), then stops.
    func stop() async
}

/// One thing a transport hands over.
public enum ClusterTransportEvent: Sendable, Equatable {
    /// In contact: what is published from now on reaches every server in contact.
    case connected
    /// Contact lost (why, without secrets); once per outage.
    case disconnected(String)
    /// A payload some server published.
    case payload(String)
    /// This many payloads were dropped because this server fell behind.
    case dropped(Int)
}
