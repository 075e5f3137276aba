import NIOCore

extension ChatServer {
    /// Where the server is in its life (the way Hummingbird's server keeps it): `idle` until ``start()``,
    /// `starting` until every endpoint listens, `running`, then `stopping` once ``stop(quietly:)`` begins and
    /// `stopped` when it returns. Those waiting for the listeners (systemd's `READY=1`) are kept until running
    /// (told `true`) or stopping (told `false`).
    enum Lifecycle {
        case idle([@Sendable (Bool) -> Void])
        case starting([@Sendable (Bool) -> Void])
        case running
        case stopping
        case stopped
    }

    /// ``start()`` was called twice, or after ``stop(quietly:)``.
    public struct AlreadyStarted: Error, CustomStringConvertible {
        public var description: String { "the server was already started" }
    }

    /// Calls `body(true)` once every endpoint listens (at once if it does already), or `body(false)` if the
    /// server stops first (a failed start). Thread-safe.
    public func whenListening(_ body: @escaping @Sendable (Bool) -> Void) {
        let now: Bool? = state.withLockedValue { state in
            switch state.lifecycle {
            case .idle(let waiting):
                state.lifecycle = .idle(waiting + [body])
                return nil
            case .starting(let waiting):
                state.lifecycle = .starting(waiting + [body])
                return nil
            case .running: return true
            case .stopping, .stopped: return false
            }
        }
        if let now { body(now) }
    }

    /// idle → starting; throws ``AlreadyStarted`` from any other state.
    func didBeginStarting() throws {
        try state.withLockedValue { state in
            guard case .idle(let waiting) = state.lifecycle else { throw AlreadyStarted() }
            state.lifecycle = .starting(waiting)
        }
    }

    /// starting → running (every endpoint listens): the front door's timers start and those waiting are told.
    func didStartListening() {
        startFrontDoorTasks()
        let waiting: [@Sendable (Bool) -> Void] = state.withLockedValue { state in
            guard case .starting(let waiting) = state.lifecycle else { return [] }
            state.lifecycle = .running
            return waiting
        }
        for body in waiting { body(true) }
    }

    /// → stopping; `false` when a stop had begun already. Anyone still waiting for the listeners is told they
    /// will not come.
    func didBeginStopping() -> Bool {
        let (first, waiting): (Bool, [@Sendable (Bool) -> Void]) = state.withLockedValue { state in
            switch state.lifecycle {
            case .idle(let waiting), .starting(let waiting):
                state.lifecycle = .stopping
                return (true, waiting)
            case .running:
                state.lifecycle = .stopping
                return (true, [])
            case .stopping, .stopped:
                return (false, [])
            }
        }
        for body in waiting { body(false) }
        return first
    }

    /// stopping → stopped.
    func didStop() {
        state.withLockedValue { $0.lifecycle = .stopped }
    }

    /// What `STATUS=` and operators are told: clients in the chat (every server of a cluster), and the
    /// connections turned away at the front door since the start.
    public struct Status: Sendable, CustomStringConvertible {
        public var clients: Int
        public var turnedAway: FrontDoorCounters.Counts

        public var description: String {
            let people = clients == 1 ? "1 client connected" : "\(clients) clients connected"
            return turnedAway.total == 0 ? people : "\(people), \(turnedAway.total) turned away at the front door"
        }
    }

    /// The status now (asks the hub on its loop); `nil` before the server has started.
    public func status() async -> Status? {
        guard let hub = state.withLockedValue({ $0.hub }) else { return nil }
        guard let clients = try? await hub.eventLoop.submit({ hub.value.connectedCount }).get() else { return nil }
        return Status(clients: clients, turnedAway: frontDoorCounters.current)
    }
}
