import NIOCore

extension ChatServer {
    /// Whether the server is listening yet, for those who wait on it (systemd's `READY=1`).
    enum Readiness {
        case starting([@Sendable (Bool) -> Void])
        case listening
        case stopped
    }

    /// Calls `body(true)` once every endpoint listens (at once if it does already), or `body(false)` if the
    /// server stops first (a failed start). Thread-safe.
    public func whenListening(_ body: @escaping @Sendable (Bool) -> Void) {
        let now: Bool? = state.withLockedValue { state in
            switch state.readiness {
            case .starting(let waiting):
                state.readiness = .starting(waiting + [body])
                return nil
            case .listening: return true
            case .stopped: return false
            }
        }
        if let now { body(now) }
    }

    /// `start()` is done: the front door's timers start and those waiting are told.
    func didStartListening() {
        startFrontDoorTasks()
        settleReadiness(.listening, with: true)
    }

    /// `stop()` began: anyone still waiting for the listeners is told they will not come.
    func didStop() {
        settleReadiness(.stopped, with: false)
    }

    private func settleReadiness(_ next: Readiness, with outcome: Bool) {
        let waiting: [@Sendable (Bool) -> Void] = state.withLockedValue { state in
            guard case .starting(let waiting) = state.readiness else {
                if case .listening = state.readiness, case .stopped = next { state.readiness = .stopped }
                return []
            }
            state.readiness = next
            return waiting
        }
        for body in waiting { body(outcome) }
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
