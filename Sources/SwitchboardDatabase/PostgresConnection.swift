import SwitchboardProtocol
import CLibPQ
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking connection to PostgreSQL through libpq.
///
/// ```
/// init(uri:)      PQconnectdb(uri + connect_timeout=5 unless given)  ─▶ CONNECTION_OK, client_encoding UTF8
/// executeScript   PQexec(sql)                         one or more statements, no parameters
/// fetch           PQprepare(sb_N, sql) once per SQL text, then PQexecPrepared(sb_N, text params)
///                 results: NULL ─▶ .null, anything else ─▶ .text (``DatabaseValue/int64`` parses digits);
///                 column names from PQfname
/// ```
///
/// Values are only ever bound as text-format parameters (`.integer` as decimal text, `.null` as SQL `NULL`),
/// never spliced into SQL. NOTICEs from the server are dropped rather than printed to stderr.
///
/// Failures become ``DatabaseError``s carrying the SQLSTATE, the server's primary message and the SQL —
/// never the bound values (a value the server quotes back in its message is replaced by `***`) and never
/// the password. A broken connection (server gone, backend terminated, SQLSTATE class `08`, `57P01`–`57P03`)
/// is reported as kind `connectionLost` and sets ``isUsable`` to `false`; the pool then opens a new
/// connection, so prepared statements never have to survive a reconnect. Serialization failures, deadlocks
/// and lock timeouts (`40001`, `40P01`, `55P03`) are kind `busy`.
///
/// Thread ownership: one ``DatabasePool`` worker thread creates, uses and closes it. Every method blocks,
/// and in debug builds traps when called on an event loop thread (see ``BlockingCallGuard``).
public final class PostgresConnection: DatabaseConnection {
    public var dialect: SQLDialect { .postgres }
    public internal(set) var isUsable = true

    /// How long a connection attempt may take when the URI does not say (`connect_timeout`, seconds), so a
    /// dead host cannot hang a pool thread.
    public static let defaultConnectTimeoutSeconds = 5

    var handle: OpaquePointer?
    /// Prepared statements by SQL text: a name unique for the life of this connection, and how many
    /// parameters the server says the statement takes.
    private var statements: [String: (name: String, parameterCount: Int)] = [:]
    private var nextStatementNumber = 0
    /// The statement sent with ``send(_:textParameters:)`` whose results are not all read yet, and the first
    /// failure among them.
    struct InFlight {
        var sql: String
        var binds: [DatabaseValue]
        var failure: DatabaseError?
        /// The rows of its last result so far, when they are wanted (``statementRows()``).
        var rows: QueryResult?
    }
    var inFlight: InFlight?
    /// What this connection was opened with; its password is scrubbed from every message.
    public let parameters: PostgresConnectionParameters
    /// The URI without the password; the only form shown in errors.
    public var redactedURI: String { parameters.redacted }

    /// Connects to the database named by `uri`: a connection URI (`postgres://…`, `postgresql://…`, parsed
    /// by ``PostgresConnectionParameters``) or a libpq `key=value` connection string.
    public convenience init(uri: String) throws(DatabaseError) {
        let parameters =
            PostgresConnectionParameters.isURI(uri)
            ? try PostgresConnectionParameters(parsing: uri) : try PostgresConnection.parseConnectionString(uri)
        try self.init(parameters: parameters)
    }

    /// Connects with `parameters` (as keyword/value arrays), adding `connect_timeout` when they have none.
    ///
    /// Throws kind `connectFailed` with a message naming host, port and database but never the password;
    /// the error's ``DatabaseError/sqlState`` is the server's when it refused us, and
    /// ``DatabaseError/requiresIntervention`` is set unless waiting may cure it (refused, timeout, DNS,
    /// SQLSTATE classes 08, 53 and 57 such as `57P03` starting up and `53300` too many connections).
    /// `shouldGiveUp` is asked about every 100 ms while the attempt waits on the network; when it says yes,
    /// the attempt ends at once with a transient error.
    public init(
        parameters: PostgresConnectionParameters, shouldGiveUp: () -> Bool = { false }
    ) throws(DatabaseError) {
        self.parameters = parameters
        let redacted = parameters.redacted
        let keywords = parameters.libpqKeywords(defaultConnectTimeout: PostgresConnection.defaultConnectTimeoutSeconds)
        BlockingCallGuard.checkDatabaseCall("PQconnectStartParams")
        let started = PostgresConnection.withCStrings(keywords.map(\.key)) { keys in
            PostgresConnection.withCStrings(keywords.map(\.value)) { values in
                PQconnectStartParams(keys, values, 0)
            }
        }
        guard let conn = started else {
            throw DatabaseError(.connectFailed, message: "cannot connect to \(redacted): out of memory")
        }
        // Only in verbose mode does a refusal from the server carry its SQLSTATE; reset once connected.
        PQsetErrorVerbosity(conn, PQERRORS_VERBOSE)
        let outcome: ConnectOutcome
        if PQstatus(conn) == CONNECTION_BAD {
            outcome = .failed(optionsRejected: true)  // libpq refused the keywords before any network I/O
        } else {
            outcome = PostgresConnection.poll(conn, connectTimeout: parameters.connectTimeoutSeconds(
                default: PostgresConnection.defaultConnectTimeoutSeconds), hostCount: parameters.hostCount,
                shouldGiveUp: shouldGiveUp)
        }
        guard case .connected = outcome else {
            let error = PostgresConnection.connectFailure(conn, outcome: outcome, parameters: parameters)
            BlockingCallGuard.checkDatabaseCall("PQfinish")
            PQfinish(conn)
            throw error
        }
        handle = conn
        PQsetErrorVerbosity(conn, PQERRORS_DEFAULT)
        BlockingCallGuard.checkDatabaseCall("PQsetNoticeProcessor")
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // Our strings are UTF-8 whatever the database's default client encoding says.
        BlockingCallGuard.checkDatabaseCall("PQsetClientEncoding")
        if PQsetClientEncoding(conn, "UTF8") != 0 {
            let message = errorMessage(conn)
            close()
            throw DatabaseError(.connectFailed, message: "cannot use \(redacted): \(message)")
        }
    }

    deinit { close() }

    /// Closes the connection (the server forgets its prepared statements). Safe to call twice.
    public func close() {
        if let handle {
            BlockingCallGuard.checkDatabaseCall("PQfinish")
            PQfinish(handle)
        }
        handle = nil
        statements.removeAll()
        inFlight = nil
        isUsable = false
    }

    public func executeScript(_ sql: String) throws(DatabaseError) {
        let conn = try openHandle(sql)
        BlockingCallGuard.checkDatabaseCall("PQexec")
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        try check(result, conn, sql: sql, binds: [])
    }

    @discardableResult
    public func fetch(_ sql: String, _ binds: [DatabaseValue]) throws(DatabaseError) -> QueryResult {
        let conn = try openHandle(sql)
        let (name, parameterCount) = try prepared(sql, conn)
        // Checked here because the server answers a wrong count with SQLSTATE 08P01 (protocol violation),
        // which would read as a lost connection, a transient failure, and be retried forever.
        guard binds.count == parameterCount else {
            throw DatabaseError(
                .statementFailed,
                message: "the statement takes \(parameterCount) parameters but \(binds.count) were bound", sql: sql)
        }

        // All parameter strings live in one NUL-separated buffer for the duration of the call.
        var buffer: [CChar] = []
        var offsets: [Int?] = []
        offsets.reserveCapacity(binds.count)
        for value in binds {
            let text: String
            switch value {
            case .null:
                offsets.append(nil)
                continue
            case .integer(let integer): text = String(integer)
            case .text(let string): text = string
            }
            if text.utf8.contains(0) {
                throw DatabaseError(
                    .statementFailed,
                    message: "a text parameter contains a NUL character, which PostgreSQL cannot store", sql: sql)
            }
            offsets.append(buffer.count)
            buffer.append(contentsOf: text.utf8.map { CChar(bitPattern: $0) })
            buffer.append(0)
        }
        let result = buffer.withUnsafeBufferPointer { storage -> OpaquePointer? in
            let values: [UnsafePointer<CChar>?] = offsets.map { offset in
                offset.map { storage.baseAddress! + $0 }
            }
            BlockingCallGuard.checkDatabaseCall("PQexecPrepared")
            return PQexecPrepared(conn, name, Int32(values.count), values, nil, nil, 0)
        }
        defer { PQclear(result) }
        do {
            try check(result, conn, sql: sql, binds: binds)
        } catch {
            // The statement vanished (DISCARD ALL) or its cached plan went stale (schema change): prepare it
            // afresh under a new name next time.
            if error.sqlState == "26000" || error.sqlState == "0A000" { statements[sql] = nil }
            throw error
        }
        guard let result else { return QueryResult(sql: sql, columns: [], rows: []) }
        var answer = PostgresConnection.rows(of: result, sql: sql)
        // The command tag says what the statement was (`UPDATE 1`, `SELECT 5`); only a write reports a count.
        if let tag = PQcmdStatus(result).map({ String(cString: $0) }),
            ["INSERT ", "UPDATE ", "DELETE ", "MERGE "].contains(where: { tag.hasPrefix($0) }),
            let tuples = PQcmdTuples(result)
        {
            answer.changedRows = Int(String(cString: tuples)) ?? 0
        }
        return answer
    }

    /// A successful result's rows, every value as text (NULL as ``DatabaseValue/null``).
    static func rows(of result: OpaquePointer, sql: String) -> QueryResult {
        BlockingCallGuard.checkDatabaseCall("PQntuples")
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        let names = (0..<columnCount).map { column in PQfname(result, column).map { String(cString: $0) } ?? "" }
        var rows: [DatabaseRow] = []
        rows.reserveCapacity(Int(rowCount))
        for rowIndex in 0..<rowCount {
            var row: DatabaseRow = []
            row.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if PQgetisnull(result, rowIndex, column) != 0 {
                    row.append(.null)
                } else if let value = PQgetvalue(result, rowIndex, column) {
                    row.append(.text(String(cString: value)))
                } else {
                    row.append(.null)
                }
            }
            rows.append(row)
        }
        return QueryResult(sql: sql, columns: names, rows: rows)
    }

    // MARK: - Internals

    func openHandle(_ sql: String) throws(DatabaseError) -> OpaquePointer {
        guard let handle else {
            throw DatabaseError(.connectionLost, message: "connection to \(redactedURI) is closed", sql: sql)
        }
        return handle
    }

    private func prepared(
        _ sql: String, _ conn: OpaquePointer
    ) throws(DatabaseError) -> (name: String, parameterCount: Int) {
        if let statement = statements[sql] { return statement }
        nextStatementNumber += 1
        let name = "sb_\(nextStatementNumber)"
        BlockingCallGuard.checkDatabaseCall("PQprepare")
        let result = PQprepare(conn, name, sql, 0, nil)
        defer { PQclear(result) }
        try check(result, conn, sql: sql, binds: [])
        BlockingCallGuard.checkDatabaseCall("PQdescribePrepared")
        let description = PQdescribePrepared(conn, name)
        defer { PQclear(description) }
        try check(description, conn, sql: sql, binds: [])
        let statement = (name: name, parameterCount: Int(PQnparams(description)))
        statements[sql] = statement
        return statement
    }

    /// Throws unless `result` reports success; classifies the failure and marks the connection unusable
    /// when it is broken.
    func check(
        _ result: OpaquePointer?, _ conn: OpaquePointer, sql: String, binds: [DatabaseValue]
    ) throws(DatabaseError) {
        var sqlState: String?
        var message: String
        if let result {
            BlockingCallGuard.checkDatabaseCall("PQresultStatus")
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
                return
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                // Only copyRows speaks COPY, and it takes PGRES_COPY_IN itself before any check; a connection
                // left in COPY mode anywhere else is of no further use.
                isUsable = false
                throw DatabaseError(.connectionLost, message: "COPY is not supported on this connection", sql: sql)
            default:
                break
            }
            sqlState = PQresultErrorField(result, PostgresConnection.diagSQLState).map { String(cString: $0) }
            message = PQresultErrorField(result, PostgresConnection.diagMessagePrimary).map { String(cString: $0) }
                ?? PostgresConnection.firstLines(PQresultErrorMessage(result).map { String(cString: $0) } ?? "")
        } else {
            message = errorMessage(conn)
        }
        if message.isEmpty { message = "unknown error" }
        message = PostgresConnection.redactingBinds(binds, in: scrubbed(message, conn: conn))

        BlockingCallGuard.checkDatabaseCall("PQstatus")
        let broken = PQstatus(conn) != CONNECTION_OK
        let kind: DatabaseError.Kind
        switch sqlState {
        case _ where broken: kind = .connectionLost
        case let state? where state.hasPrefix("08"): kind = .connectionLost
        case "57P01", "57P02", "57P03": kind = .connectionLost
        case "40001", "40P01", "55P03": kind = .busy
        case nil where result == nil: kind = .connectionLost
        default: kind = .statementFailed
        }
        if kind == .connectionLost { isUsable = false }
        throw DatabaseError(kind, message: message, sql: sql, sqlState: sqlState)
    }

    // PG_DIAG_SQLSTATE ('C') and PG_DIAG_MESSAGE_PRIMARY ('M') are character-literal macros, which Swift
    // does not import; these are their values from postgres_ext.h.
    private static let diagSQLState = Int32(UInt8(ascii: "C"))
    private static let diagMessagePrimary = Int32(UInt8(ascii: "M"))
}

// A connection is confined to the pool thread that opened it; sending it elsewhere is a bug.
@available(*, unavailable)
extension PostgresConnection: Sendable {}
