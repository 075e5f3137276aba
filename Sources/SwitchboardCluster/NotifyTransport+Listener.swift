import Logging
import NIOCore
import SwitchboardDatabase

extension NotifyTransport.Shared {
    /// The listen thread: LISTEN on both channels, then hand what arrives to the inbox, in order, reading large
    /// payloads back from their table in their place.
    func runListener() {
        runConnections(.listener, threadName: "sb-link-listen") { connection, generation, failures in
            var listening = false
            do {
                try listen(on: connection, generation: generation, listening: &listening)
                return 0
            } catch {
                // A LISTEN that fails is a failed attempt (backoff grows); a broken LISTEN is a lost contact.
                let counted = reportFailure(.listener, generation, error, established: listening)
                return listening ? 1 : (counted ? failures + 1 : 0)
            }
        }
    }

    /// Sends the LISTENs (one statement each), then receives until the connection fails (throws) or its
    /// generation ends (returns).
    private func listen(
        on connection: PostgresConnection, generation: Int, listening: inout Bool
    ) throws(DatabaseError) {
        enum Pending {
            /// The LISTEN for `listenStatements[index]`.
            case listen(index: Int)
            case ping
        }
        let socket = connection.socket
        try connection.send(listenStatements[0], textParameters: [])
        var pending: Pending? = .listen(index: 0)
        var deadline = NIODeadline.now() + Self.answerTimeout
        var flushed = false
        var lastHeard = NIODeadline.now()
        // Notifications taken but not handed over yet: those after a large payload's reference wait while a
        // ping is in flight (the connection runs one statement at a time, and reading the row is one).
        var held: [(channel: String, payload: String)] = []
        while !isOver(generation) {
            if pending != nil && !flushed { flushed = try connection.flush() }
            let ready = Self.wait(on: socket, writable: pending != nil && !flushed)
            let now = NIODeadline.now()
            if ready.readable {
                try connection.consumeInput()
                lastHeard = now
            }
            if let current = pending {
                if try connection.statementFinished() {
                    pending = nil
                    if case .listen(let index) = current {
                        if index + 1 < listenStatements.count {
                            try connection.send(listenStatements[index + 1], textParameters: [])
                            pending = .listen(index: index + 1)
                            flushed = false
                            deadline = now + Self.answerTimeout
                        } else {
                            listening = true
                            report { $0.ready(.listener, generation: generation) }
                        }
                    }
                } else if now > deadline {
                    throw DatabaseError(.connectionLost, message: Self.noAnswer)
                }
            }
            held += connection.takeNotifications()
            if !held.isEmpty && (pending == nil || !held.contains(where: { $0.channel == largeChannel })) {
                let handing = held
                held.removeAll()
                guard try hand(handing, from: connection, generation: generation) else { return }
                lastHeard = NIODeadline.now()
            }
            if pending == nil && now - lastHeard > Self.pingInterval {
                try connection.send("SELECT 1", textParameters: [])
                pending = .ping
                flushed = false
                deadline = now + Self.answerTimeout
                lastHeard = now
            }
        }
    }

    /// Hands `notifications` to the inbox in order: small payloads as they are, references read back from the
    /// table (all of this batch's in one statement) — this transport's own skipped, those whose row is gone
    /// counted as dropped in their place. `false` when the generation ended meanwhile. No statement may be in
    /// flight on `connection`.
    private func hand(
        _ notifications: [(channel: String, payload: String)], from connection: PostgresConnection, generation: Int
    ) throws(DatabaseError) -> Bool {
        enum Item {
            case payload(String)
            case stored(Int64)
        }
        var items: [Item] = []
        items.reserveCapacity(notifications.count)
        for notification in notifications {
            if notification.channel == channel {
                items.append(.payload(notification.payload))
            } else if notification.channel == largeChannel,
                let reference = LargePayloadTable.Reference(parsing: notification.payload),
                reference.origin != serverID
            {
                items.append(.stored(reference.id))
            }
        }
        var stored: [Int64: String] = [:]
        let ids = items.compactMap { item -> Int64? in
            if case .stored(let id) = item { return id }
            return nil
        }
        if !ids.isEmpty {
            guard let read = try readStored(ids, on: connection, generation: generation) else { return false }
            stored = read
            locked { [count = read.count] in $0.readBack(count) }
        }
        var run: [String] = []
        for item in items {
            switch item {
            case .payload(let payload):
                run.append(payload)
            case .stored(let id):
                if let payload = stored[id] {
                    run.append(payload)
                } else {
                    if !run.isEmpty { report { [run] in $0.received(run, generation: generation) } }
                    run = []
                    report { $0.missed(1, generation: generation) }
                }
            }
        }
        if !run.isEmpty { report { [run] in $0.received(run, generation: generation) } }
        return true
    }

    /// Reads rows `ids` of the large payloads' table, marking them read by this server, and deletes those this
    /// server was the last listed reader of. `nil` when the generation ended meanwhile.
    private func readStored(
        _ ids: [Int64], on connection: PostgresConnection, generation: Int
    ) throws(DatabaseError) -> [Int64: String]? {
        let list = LargePayloadTable.arrayLiteral(ids)
        guard
            let result = try runToEnd(
                LargePayloadTable.readSQL, [list, String(serverID)], on: connection, generation: generation)
        else { return nil }
        var payloads: [Int64: String] = [:]
        var emptied: [Int64] = []
        for row in try result.decodeRows({ row throws(DatabaseError) in
            (id: try row.decode("id", as: Int64.self), payload: try row.decode("payload", as: String.self),
             unread: try row.decodeIfPresent("unread", as: Int64.self))
        }) {
            payloads[row.id] = row.payload
            if row.unread == 0 { emptied.append(row.id) }
        }
        if !emptied.isEmpty {
            let deleteList = LargePayloadTable.arrayLiteral(emptied)
            guard
                try runToEnd(LargePayloadTable.deleteReadSQL, [deleteList], on: connection, generation: generation)
                    != nil
            else { return nil }
        }
        return payloads
    }

    /// Runs one statement to its end on `connection`, waiting on its socket within the answer timeout, and
    /// returns its rows (empty when it has none); `nil` when the generation ended meanwhile. Notifications
    /// that arrive meanwhile stay in libpq's queue, in order, for the loop.
    private func runToEnd(
        _ sql: String, _ parameters: [String], on connection: PostgresConnection, generation: Int
    ) throws(DatabaseError) -> QueryResult? {
        try connection.send(sql, textParameters: parameters)
        let deadline = NIODeadline.now() + Self.answerTimeout
        var flushed = false
        while !isOver(generation) {
            if !flushed { flushed = try connection.flush() }
            let ready = Self.wait(on: connection.socket, writable: !flushed)
            if ready.readable { try connection.consumeInput() }
            if let rows = try connection.statementRows() { return rows }
            if NIODeadline.now() > deadline { throw DatabaseError(.connectionLost, message: Self.noAnswer, sql: sql) }
        }
        return nil
    }
}
