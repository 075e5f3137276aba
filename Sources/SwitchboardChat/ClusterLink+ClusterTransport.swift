import Dispatch
import SwitchboardCluster

/// PostgreSQL LISTEN/NOTIFY as the cluster's transport.
extension ClusterLink: ClusterTransport {
    public func start(wake: @escaping @Sendable () -> Void) {
        start(wake)
    }

    public func take() -> [ClusterTransportEvent] {
        var events: [ClusterTransportEvent] = []
        for event in takeInbox() {
            switch event {
            case .connected: events.append(.connected)
            case .disconnected(let why): events.append(.disconnected(why))
            case .dropped(let count): events.append(.dropped(count))
            case .payloads(let payloads): events += payloads.map(ClusterTransportEvent.payload)
            }
        }
        return events
    }

    public func send(_ payload: String) -> Bool {
        (try? publish(payload)) ?? false
    }

    /// Gives what is queued up to half a second to go out (the members' leaves at shutdown), then stops.
    public func stop() async {
        let deadline = DispatchTime.now() + .milliseconds(500)
        while DispatchTime.now() < deadline {
            let counts = statistics
            if counts.sent + counts.unsent >= counts.queued { break }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        await shutdown()
    }
}
