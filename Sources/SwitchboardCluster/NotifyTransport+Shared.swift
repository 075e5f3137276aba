import Foundation
import Logging
import NIOCore
import SwitchboardDatabase

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension NotifyTransport {
    /// The state both threads and the callers share, and what both threads' loops use; the loops themselves
    /// are in `NotifyTransport+Listener.swift` and `NotifyTransport+Notifier.swift`.
    ///
    /// `@unchecked Sendable`: `state`, `wake` and `running` are only read and written with `condition` locked;
    /// the other properties are immutable and Sendable. Each `PostgresConnection` is a local of the thread
    /// loop that opened it and never leaves that thread.
    final class Shared: @unchecked Sendable {
        /// At most this many payloads per statement (PostgreSQL allows 1664 columns in a select list).
        static let maximumBatchCount = 1000
        /// At most this many payload bytes per statement.
        static let maximumBatchBytes = 256 * 1024
        /// A statement (LISTEN, a ping, a batch, a read) that gets no answer within this long means the contact
        /// is lost.
        static let answerTimeout = TimeAmount.seconds(10)
        static let noAnswer = "no answer from the server within \(answerTimeout.nanoseconds / 1_000_000_000) s"
        /// The listen connection is pinged after this long without hearing from the server.
        static let pingInterval = TimeAmount.seconds(10)
        /// Threads wait on sockets in slices this long, so they notice a stop or a new generation.
        static let pollSliceMilliseconds: Int32 = 100
        static let reconnectBackoff = Backoff(first: .milliseconds(100), maximum: .seconds(2))

        let parameters: PostgresConnectionParameters
        let channel: String
        /// Where references to large payloads go (``LargePayloadTable/channelSuffix``).
        let largeChannel: String
        let serverID: Int64
        let logger: Logger
        /// `LISTEN` for each channel (one statement each).
        let listenStatements: [String]
        let condition = NSCondition()
        /// Guarded by `condition`.
        var state: NotifyTransportState
        /// Guarded by `condition`.
        var wake: (@Sendable () -> Void)?
        /// Guarded by `condition`.
        var running = 0

        init(
            parameters: PostgresConnectionParameters, channel: String, serverID: Int64, logger: Logger,
            state: NotifyTransportState
        ) {
            self.parameters = parameters
            self.channel = channel
            self.largeChannel = channel + LargePayloadTable.channelSuffix
            self.serverID = serverID
            self.state = state
            var logger = logger
            logger[metadataKey: "database"] = "\(parameters.redacted)"
            logger[metadataKey: "channel"] = "\(channel)"
            self.logger = logger
            listenStatements = [channel, largeChannel].map { "LISTEN \"" + $0.replacing("\"", with: "\"\"") + "\"" }
        }

        // MARK: Calls from the transport's users

        func setWake(_ wake: @escaping @Sendable () -> Void) {
            locked { _ in self.wake = wake }
        }

        func publish(_ payload: String) -> Bool {
            let outcome = locked { state -> NotifyTransportState.PublishOutcome in
                let outcome = state.publish(payload)
                if case .queued(wakeNotifier: true, _) = outcome { condition.broadcast() }
                return outcome
            }
            switch outcome {
            case .queued: return true
            case .notInContact: return false
            case .outboxFull(let first):
                if first {
                    logger.warning("cluster transport outbox full; payloads are refused until it drains")
                }
                return false
            }
        }

        func takeInbox() -> [ClusterTransportEvent] {
            locked { $0.takeInbox() }
        }

        var statistics: NotifyTransport.Statistics {
            locked { $0.statistics }
        }

        var isBacklogged: Bool {
            locked { $0.isBacklogged }
        }

        var runningThreads: Int {
            locked { _ in running }
        }

        /// Stops the state (the threads see it) and lets go of the consumer's closure, which may hold whoever
        /// holds the transport.
        func stop() {
            report { state in
                wake = nil
                return state.stop()
            }
        }

        /// One thread's life: connects for the current generation (pausing longer after each failure), runs
        /// `session` on the connection, closes it, and again, until the transport stops. `session` gets the
        /// failures so far and returns the count to go on with.
        func runConnections(
            _ role: NotifyTransportState.Role, threadName: String,
            _ session: (PostgresConnection, _ generation: Int, _ failures: Int) -> Int
        ) {
            enter(threadName)
            defer { leave() }
            var failures = 0
            while let generation = currentGeneration() {
                if failures > 0 && !pause(afterFailures: failures) { return }
                let connection: PostgresConnection
                do {
                    connection = try connect(generation)
                } catch {
                    failures = reportFailure(role, generation, error, established: false) ? failures + 1 : 0
                    continue
                }
                failures = session(connection, generation, failures)
                connection.close()
            }
        }

        // MARK: Shared by both threads

        func connect(_ generation: Int) throws(DatabaseError) -> PostgresConnection {
            try PostgresConnection(parameters: parameters, shouldGiveUp: { self.isOver(generation) })
        }

        /// Reports a failure unless the generation ended meanwhile (then the failure is only its consequence);
        /// returns whether it was reported.
        func reportFailure(
            _ role: NotifyTransportState.Role, _ generation: Int, _ error: Error, established: Bool
        ) -> Bool {
            guard !isOver(generation) else { return false }
            let message = (error as? DatabaseError)?.message ?? "\(error)"
            report(error: message) {
                $0.failed(role, generation: generation, message: message, established: established)
            }
            return true
        }

        /// Waits out the backoff after `failures` failed attempts; `false` when the transport stopped meanwhile.
        func pause(afterFailures failures: Int) -> Bool {
            let delay = Shared.reconnectBackoff.delay(afterFailures: failures).nanoseconds
            let until = Date(timeIntervalSinceNow: Double(delay) / 1e9)
            // Not through `locked`, for the reason given in nextBatch(_:).
            condition.lock()
            defer { condition.unlock() }
            while state.phase != .stopped {
                if !condition.wait(until: until) { break }
            }
            return state.phase != .stopped
        }

        func currentGeneration() -> Int? {
            locked { $0.phase == .stopped ? nil : $0.generation }
        }

        func isOver(_ generation: Int) -> Bool {
            locked { $0.isOver(generation) }
        }

        func isStopped() -> Bool {
            locked { $0.phase == .stopped }
        }

        func enter(_ name: String) {
            // Named, so that a leftover thread is visible (ps -L, /proc/PID/task/*/comm).
            Thread.current.name = name
            locked { _ in running += 1 }
        }

        func leave() {
            locked { _ in running -= 1 }
        }

        /// Runs `body` with the state, under the lock. `body` must not wait on `condition` (see nextBatch(_:)).
        func locked<T>(_ body: (inout NotifyTransportState) -> T) -> T {
            condition.lock()
            defer { condition.unlock() }
            return body(&state)
        }

        /// Applies a report to the state, then — outside the lock — wakes the consumer and logs.
        func report(error: String? = nil, _ body: (inout NotifyTransportState) -> NotifyTransportState.Transition) {
            let (transition, wake) = locked { state in
                let transition = body(&state)
                if transition.wakeThreads { condition.broadcast() }
                return (transition, transition.wakeConsumer ? self.wake : nil)
            }
            if transition.outageBegan {
                logger.warning(
                    "cluster transport out of contact with the database; reconnecting",
                    metadata: ["error": "\(error ?? "")", "unsent": "\(transition.discardedUnsent)"])
            }
            if let up = transition.contactUp {
                logger.info(up == .afterOutage ? "cluster transport in contact again" : "cluster transport listening")
            }
            wake?()
        }

        /// Waits up to one poll slice for `socket` to be readable (or writable, when asked); a hang-up or an
        /// error counts as readable, so that reading reports it.
        static func wait(on socket: Int32, writable: Bool) -> (readable: Bool, writable: Bool) {
            let ready = SocketPoll.wait(socket, writable: writable, milliseconds: pollSliceMilliseconds)
            return (ready.readable, ready.writable)
        }
    }
}
