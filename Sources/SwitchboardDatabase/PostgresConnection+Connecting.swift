import SwitchboardProtocol
import CLibPQ
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening a connection without blocking past its timeout: `PQconnectPoll` driven on the socket, and the
/// failure told in words that name host, port and database but never the password. On a pool thread.
extension PostgresConnection {
    enum ConnectOutcome {
        case connected
        /// libpq gave up; `optionsRejected` when it refused the keywords before any network I/O.
        case failed(optionsRejected: Bool)
        case timedOut(seconds: Int)
        case gaveUp
    }

    /// Drives `PQconnectPoll` until it succeeds, fails, runs past `connectTimeout` per host (0 = no limit,
    /// as in libpq) or `shouldGiveUp` says so. Waits on the socket in slices of at most 100 ms.
    static func poll(
        _ conn: OpaquePointer, connectTimeout: Int, hostCount: Int, shouldGiveUp: () -> Bool
    ) -> ConnectOutcome {
        let limit = connectTimeout > 0 ? max(2, connectTimeout) * hostCount : 0
        let deadline = limit > 0 ? NIODeadline.now() + .seconds(Int64(limit)) : NIODeadline.distantFuture
        var status = PGRES_POLLING_WRITING
        while true {
            switch status {
            case PGRES_POLLING_OK: return .connected
            case PGRES_POLLING_FAILED: return .failed(optionsRejected: false)
            default: break
            }
            BlockingCallGuard.checkDatabaseCall("PQsocket")
            let socket = PQsocket(conn)
            guard socket >= 0 else { return .failed(optionsRejected: false) }
            let reading = status == PGRES_POLLING_READING
            while true {
                if shouldGiveUp() { return .gaveUp }
                let left = deadline - NIODeadline.now()
                if left <= .zero { return .timedOut(seconds: limit) }
                let slice = Int32(min(left.nanoseconds / 1_000_000 + 1, 100))
                if SocketPoll.wait(socket, readable: reading, writable: !reading, milliseconds: slice).any { break }
            }
            BlockingCallGuard.checkDatabaseCall("PQconnectPoll")
            status = PQconnectPoll(conn)
        }
    }

    /// The error for a failed attempt: one line, no password, the server's SQLSTATE when it sent one, and
    /// whether waiting can cure it.
    static func connectFailure(
        _ conn: OpaquePointer, outcome: ConnectOutcome, parameters: PostgresConnectionParameters
    ) -> DatabaseError {
        let prefix = "cannot connect to \(parameters.redacted): "
        switch outcome {
        case .timedOut(let seconds):
            return DatabaseError(.connectFailed, message: prefix + "no answer within \(seconds) s (connect_timeout)")
        case .gaveUp:
            return DatabaseError(.connectFailed, message: prefix + "gave up: the server is stopping")
        case .connected, .failed:
            break
        }
        BlockingCallGuard.checkDatabaseCall("PQerrorMessage")
        let (sqlState, text) = splitSQLState(PQerrorMessage(conn).map { String(cString: $0) } ?? "")
        var message = scrubbed(firstLines(text), conn: conn, parameters: parameters)
        if message.isEmpty { message = "unknown error" }
        let healsByWaiting: Bool
        if case .failed(optionsRejected: true) = outcome {
            healsByWaiting = false
        } else if let sqlState {
            // 08 connection exception, 53 insufficient resources (53300 too many connections), 57 operator
            // intervention (57P03 starting up, 57P01 shutting down): the server is there but not ready.
            healsByWaiting = ["08", "53", "57"].contains(String(sqlState.prefix(2)))
        } else if PQconnectionNeedsPassword(conn) != 0 {
            healsByWaiting = false
        } else {
            // No answer from a server: refused, unreachable, a name that does not resolve yet — or TLS
            // that the URL demands and the server cannot give, which waiting does not change.
            let lowered = text.lowercased()
            healsByWaiting = !(lowered.contains("ssl") || lowered.contains("certificate") || lowered.contains("gssapi"))
        }
        return DatabaseError(
            .connectFailed, message: prefix + message, sqlState: sqlState, requiresIntervention: !healsByWaiting)
    }

    /// Calls `body` with a NULL-terminated array of C strings that lives for the duration of the call.
    static func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// A libpq `key=value` connection string as keywords, parsed by libpq itself. Its error message may
    /// quote the string, so it is not shown.
    static func parseConnectionString(_ text: String) throws(DatabaseError) -> PostgresConnectionParameters {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(text, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            throw DatabaseError(.invalidURL, message: "the PostgreSQL connection string does not parse")
        }
        defer { PQconninfoFree(options) }
        var keywords: [(key: String, value: String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { keywords.append((String(cString: keyword), String(cString: value))) }
            option += 1
        }
        return PostgresConnectionParameters(keywords: keywords)
    }
}
