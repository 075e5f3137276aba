import Foundation
import Logging
import NIOCore
import SwitchboardDatabase

extension NotifyTransport.Shared {
    /// The notify thread: takes batches from the outbox as the send rate allows and sends them, a statement
    /// at a time.
    func runNotifier() {
        runConnections(.notifier, threadName: "sb-link-notify") { connection, generation, _ in
            report { $0.ready(.notifier, generation: generation) }
            do {
                try notify(on: connection, generation: generation)
                return 0
            } catch {
                _ = reportFailure(.notifier, generation, error, established: true)
                return 1
            }
        }
    }

    /// Sends batches until the connection fails (throws) or its generation ends (returns).
    private func notify(on connection: PostgresConnection, generation: Int) throws(DatabaseError) {
        // What was taken from the outbox but not sent yet: the rest of a batch after its first statement.
        var carried: ArraySlice<String> = []
        defer {
            if !carried.isEmpty { locked { [carried] in $0.discarded(carried.count) } }
        }
        var lastSweep: NIODeadline?
        while true {
            let taken: ArraySlice<String>
            if !carried.isEmpty {
                if isOver(generation) { return }
                taken = carried
            } else if let batch = nextBatch(generation) {
                taken = batch[...]
            } else {
                return
            }
            let (statement, rest) = NotifyTransportState.nextStatement(
                taken, inlineLimit: NotifyTransport.inlinePayloadLimit)
            carried = rest
            switch statement {
            case .notify(let payloads):
                let sql = Self.notifySQL(count: payloads.count)
                switch try execute(sql, [channel] + payloads, carrying: payloads.count, on: connection) {
                case .finished: locked { $0.sent(payloads.count) }
                case .refused: locked { $0.discarded(payloads.count) }
                case .stopped: return
                }
            case .store(let payload):
                let now = NIODeadline.now()
                if lastSweep.map({ now - $0 >= LargePayloadTable.sweepInterval }) ?? true {
                    lastSweep = now
                    let age = LargePayloadTable.intervalLiteral(LargePayloadTable.maximumAge)
                    if try execute(LargePayloadTable.sweepSQL, [age], carrying: 0, on: connection) == .stopped { return }
                }
                let parameters = [largeChannel, String(serverID), payload]
                switch try execute(LargePayloadTable.storeSQL, parameters, carrying: 1, on: connection) {
                case .finished: locked { $0.sent(1, stored: true) }
                case .refused: locked { $0.discarded(1) }
                case .stopped: return
                }
            }
        }
    }

    private enum Outcome {
        /// The statement committed.
        case finished
        /// The server refused it (logged); the connection is still good.
        case refused
        /// The transport stopped while it was on the wire.
        case stopped
    }

    /// Sends one statement (carrying `payloads` payloads) and waits for its end within the answer timeout.
    /// Throws when the connection is lost (or the server does not answer in time).
    private func execute(
        _ sql: String, _ parameters: [String], carrying payloads: Int, on connection: PostgresConnection
    ) throws(DatabaseError) -> Outcome {
        let socket = connection.socket
        try connection.send(sql, textParameters: parameters)
        let deadline = NIODeadline.now() + Self.answerTimeout
        var flushed = false
        while true {
            if !flushed { flushed = try connection.flush() }
            let ready = Self.wait(on: socket, writable: !flushed)
            // A new generation lets the statement finish (other servers still hear it); a stop does not.
            if isStopped() { return .stopped }
            if ready.readable { try connection.consumeInput() }
            do {
                if try connection.statementFinished() { return .finished }
            } catch where error.kind != .connectionLost && connection.isUsable {
                logger.warning(
                    payloads > 0
                        ? "cluster transport: the server refused a batch of payloads; they are lost"
                        : "cluster transport: the server refused the sweep of read large payloads",
                    metadata: ["count": "\(payloads)", "error": "\(error.message)"])
                return .refused
            }
            if NIODeadline.now() > deadline {
                throw DatabaseError(.connectionLost, message: Self.noAnswer, sql: sql)
            }
        }
    }

    /// `SELECT pg_notify($1, $2), pg_notify($1, $3), …` for `count` payloads: one statement, so one
    /// transaction and one commit; the select list is evaluated in order, so the notifications are too.
    /// Every such statement is a prefix of the longest one, so it is cut from that.
    static func notifySQL(count: Int) -> String {
        precondition(count >= 1 && count <= maximumBatchCount)
        return String(notifyStatements.sql[..<notifyStatements.ends[count - 1]])
    }

    private static let notifyStatements: (sql: String, ends: [String.Index]) = {
        var sql = "SELECT"
        var ends: [Int] = []
        for parameter in 2..<(maximumBatchCount + 2) {
            sql += (parameter == 2 ? " " : ", ") + "pg_notify($1, $\(parameter))"
            ends.append(sql.utf8.count)
        }
        return (sql, ends.map { sql.utf8.index(sql.utf8.startIndex, offsetBy: $0) })
    }()

    /// Waits until there is something to send and the send rate allows it; `nil` when the generation is
    /// over (or the transport stopped). When taking the batch ended a backlog, the consumer is woken (outside
    /// the lock) to let its producers go on.
    private func nextBatch(_ generation: Int) -> [String]? {
        // Not through `locked`: waiting inside its `inout` access would let the optimiser assume nothing
        // changes `state` meanwhile (exclusivity), and a stop would go unseen. Each access here is short.
        condition.lock()
        while true {
            switch state.takeBatch(generation: generation, now: .now()) {
            case .leave:
                condition.unlock()
                return nil
            case .wait:
                condition.wait()
            case .waitUntil(let deadline):
                let seconds = Double((deadline - .now()).nanoseconds) / 1e9
                _ = condition.wait(until: Date(timeIntervalSinceNow: max(0, seconds)))
            case .send(let batch, let wakeConsumer):
                let wake = wakeConsumer ? self.wake : nil
                condition.unlock()
                wake?()
                return batch
            }
        }
    }
}
