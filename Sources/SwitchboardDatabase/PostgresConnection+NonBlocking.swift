import SwitchboardProtocol
import CLibPQ

/// The cluster's transport (`NotifyTransport`) never waits on the server without a deadline of its own: it
/// sends a statement, polls the socket itself, reads what arrived and asks whether the statement has finished.
/// So it can give up on a silent server and stop promptly, and it receives notifications while it waits.
///
///     send(sql, textParameters:)  PQsendQueryParams (non-blocking mode), one statement
///     flush()                     PQflush until true (poll for POLLOUT | POLLIN in between)
///     consumeInput()              PQconsumeInput when the socket is readable; throws when the connection broke
///     statementFinished()         PQisBusy / PQgetResult: true once every result is read; throws its failure
///     statementRows()             the same, keeping the rows (nil while the server is still answering)
///     takeNotifications()         PQnotifies until empty, each PQfreemem'd
///
/// One statement at a time; every call blocks only as long as libpq's own non-blocking call does, on the
/// thread that owns the connection (never an event loop: each goes through ``BlockingCallGuard``).
extension PostgresConnection {
    /// The connection's socket, to wait on with poll(2); -1 when closed.
    package var socket: Int32 {
        guard let handle else { return -1 }
        BlockingCallGuard.checkDatabaseCall("PQsocket")
        return PQsocket(handle)
    }

    /// Sends one statement with text parameters (`$1`, `$2`, …) without waiting for its answer; call ``flush()``
    /// until it returns `true`, then ``consumeInput()`` and ``statementFinished()`` whenever the socket is
    /// readable. One statement at a time. Parameters are neither prepared nor cached (the SQL may differ every
    /// time) and must not contain NUL.
    package func send(_ sql: String, textParameters: [String]) throws(DatabaseError) {
        let conn = try openHandle(sql)
        precondition(inFlight == nil, "a statement is already in flight on this connection")
        BlockingCallGuard.checkDatabaseCall("PQsetnonblocking")
        if PQisnonblocking(conn) == 0 && PQsetnonblocking(conn, 1) != 0 {
            isUsable = false
            throw DatabaseError(.connectionLost, message: errorMessage(conn), sql: sql)
        }
        var buffer: [CChar] = []
        var offsets: [Int] = []
        offsets.reserveCapacity(textParameters.count)
        for text in textParameters {
            offsets.append(buffer.count)
            buffer.append(contentsOf: text.utf8.map { CChar(bitPattern: $0) })
            buffer.append(0)
        }
        let sent = buffer.withUnsafeBufferPointer { storage -> Int32 in
            let values: [UnsafePointer<CChar>?] = offsets.map { storage.baseAddress! + $0 }
            BlockingCallGuard.checkDatabaseCall("PQsendQueryParams")
            return PQsendQueryParams(conn, sql, Int32(values.count), nil, values, nil, nil, 0)
        }
        let binds = textParameters.map(DatabaseValue.text)
        guard sent == 1 else {
            BlockingCallGuard.checkDatabaseCall("PQstatus")
            if PQstatus(conn) != CONNECTION_OK { isUsable = false }
            let message = PostgresConnection.redactingBinds(binds, in: errorMessage(conn))
            throw DatabaseError(isUsable ? .statementFailed : .connectionLost, message: message, sql: sql)
        }
        inFlight = InFlight(sql: sql, binds: binds)
    }

    /// Sends what libpq still holds of the statement (PQflush): `true` once all of it is out, `false` when the
    /// socket is full (wait until it is writable — or readable, then ``consumeInput()`` — and call again).
    package func flush() throws(DatabaseError) -> Bool {
        let conn = try openHandle(inFlight?.sql ?? "")
        BlockingCallGuard.checkDatabaseCall("PQflush")
        switch PQflush(conn) {
        case 0: return true
        case 1: return false
        default:
            isUsable = false
            throw DatabaseError(.connectionLost, message: errorMessage(conn), sql: inFlight?.sql)
        }
    }

    /// Reads whatever the server has sent (PQconsumeInput) into libpq's buffers; call when the socket is
    /// readable. Throws kind `connectionLost` when the connection broke (end of file, reset, terminated).
    package func consumeInput() throws(DatabaseError) {
        let conn = try openHandle(inFlight?.sql ?? "")
        BlockingCallGuard.checkDatabaseCall("PQconsumeInput")
        let consumed = PQconsumeInput(conn)
        BlockingCallGuard.checkDatabaseCall("PQstatus")
        if consumed == 0 || PQstatus(conn) != CONNECTION_OK {
            isUsable = false
            var message = errorMessage(conn)
            if message.isEmpty { message = "the connection to \(redactedURI) broke" }
            throw DatabaseError(.connectionLost, message: message, sql: inFlight?.sql)
        }
    }

    /// Whether the statement sent with ``send(_:textParameters:)`` has finished, from what ``consumeInput()``
    /// has read: `false` while the server is still answering, `true` once every result is in. Throws the
    /// statement's failure (classified as ``fetch(_:_:)`` classifies it) once it has finished.
    package func statementFinished() throws(DatabaseError) -> Bool {
        try finishStatement(keepingRows: false).finished
    }

    /// Like ``statementFinished()``, for a statement whose rows are wanted: `nil` while the server is still
    /// answering; once it has finished, the rows of its last result (read them by column name, as
    /// ``fetch(_:_:)``'s), empty when it returned none.
    package func statementRows() throws(DatabaseError) -> QueryResult? {
        let (finished, rows) = try finishStatement(keepingRows: true)
        return finished ? rows ?? QueryResult(sql: "", columns: [], rows: []) : nil
    }

    /// Reads the results libpq has; whether the statement finished, and (`keepingRows`) the rows of the last
    /// result that had any so far.
    private func finishStatement(keepingRows: Bool) throws(DatabaseError) -> (finished: Bool, rows: QueryResult?) {
        guard var statement = inFlight else { return (true, nil) }
        let conn = try openHandle(statement.sql)
        while true {
            BlockingCallGuard.checkDatabaseCall("PQisBusy")
            if PQisBusy(conn) != 0 {
                inFlight = statement
                return (false, nil)
            }
            BlockingCallGuard.checkDatabaseCall("PQgetResult")
            guard let result = PQgetResult(conn) else { break }
            defer { PQclear(result) }
            if statement.failure == nil {
                do {
                    try check(result, conn, sql: statement.sql, binds: statement.binds)
                    BlockingCallGuard.checkDatabaseCall("PQresultStatus")
                    if keepingRows, PQresultStatus(result) == PGRES_TUPLES_OK {
                        statement.rows = PostgresConnection.rows(of: result, sql: statement.sql)
                    }
                } catch {
                    statement.failure = error
                }
            }
        }
        inFlight = nil
        if let failure = statement.failure { throw failure }
        return (true, statement.rows)
    }

    /// The notifications libpq has read so far (PQnotifies), oldest first: the channel and the payload of each.
    package func takeNotifications() -> [(channel: String, payload: String)] {
        guard let handle else { return [] }
        var notifications: [(channel: String, payload: String)] = []
        while true {
            BlockingCallGuard.checkDatabaseCall("PQnotifies")
            guard let notify = PQnotifies(handle) else { break }
            let channel = notify.pointee.relname.map { String(cString: $0) } ?? ""
            let payload = notify.pointee.extra.map { String(cString: $0) } ?? ""
            BlockingCallGuard.checkDatabaseCall("PQfreemem")
            PQfreemem(notify)
            notifications.append((channel, payload))
        }
        return notifications
    }
}
