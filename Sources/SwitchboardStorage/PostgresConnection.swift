import CLibPQ

/// A blocking connection to PostgreSQL through libpq.
///
/// ```
/// init(uri:)      PQconnectdb(uri + connect_timeout=5 unless given)  ─▶ CONNECTION_OK, client_encoding UTF8
/// executeScript   PQexec(sql)                         one or more statements, no parameters
/// query           PQprepare(sb_N, sql) once per SQL text, then PQexecPrepared(sb_N, text params)
///                 results: NULL ─▶ .null, anything else ─▶ .text (``DatabaseValue/int64`` parses digits)
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
/// and in debug builds traps when called on an event loop thread (see ``EventLoopGuard``).
public final class PostgresConnection: DatabaseConnection {
    public var dialect: SQLDialect { .postgres }
    public private(set) var isUsable = true

    /// How long a connection attempt may take when the URI does not say (`connect_timeout`, seconds), so a
    /// dead host cannot hang a pool thread.
    public static let defaultConnectTimeoutSeconds = 5

    private var handle: OpaquePointer?
    /// Prepared statements by SQL text: a name unique for the life of this connection, and how many
    /// parameters the server says the statement takes.
    private var statements: [String: (name: String, parameterCount: Int)] = [:]
    private var nextStatementNumber = 0
    /// The URI with any password replaced by `***`; the only form shown in errors.
    public let redactedURI: String

    /// Connects to the database named by `uri`: a libpq connection URI (`postgres://…`, `postgresql://…`)
    /// or a `key=value` connection string. Adds `connect_timeout` when the URI has none. Throws kind
    /// `connectFailed` with a message naming host, port and database but never the password.
    public init(uri: String) throws(DatabaseError) {
        redactedURI = DatabaseURL.redact(uri)
        let conninfo = PostgresConnection.addingConnectTimeout(to: uri)
        EventLoopGuard.check("PQconnectdb")
        guard let conn = PQconnectdb(conninfo) else {
            throw DatabaseError(.connectFailed, message: "cannot connect to \(redactedURI): out of memory")
        }
        EventLoopGuard.check("PQstatus")
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = PostgresConnection.scrubbed(PostgresConnection.errorMessage(conn), conn: conn)
            EventLoopGuard.check("PQfinish")
            PQfinish(conn)
            throw DatabaseError(.connectFailed, message: "cannot connect to \(redactedURI): \(message)")
        }
        handle = conn
        EventLoopGuard.check("PQsetNoticeProcessor")
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // Our strings are UTF-8 whatever the database's default client encoding says.
        EventLoopGuard.check("PQsetClientEncoding")
        if PQsetClientEncoding(conn, "UTF8") != 0 {
            let message = PostgresConnection.scrubbed(PostgresConnection.errorMessage(conn), conn: conn)
            close()
            throw DatabaseError(.connectFailed, message: "cannot use \(redactedURI): \(message)")
        }
    }

    deinit { close() }

    /// Closes the connection (the server forgets its prepared statements). Safe to call twice.
    public func close() {
        if let handle {
            EventLoopGuard.check("PQfinish")
            PQfinish(handle)
        }
        handle = nil
        statements.removeAll()
        isUsable = false
    }

    public func executeScript(_ sql: String) throws(DatabaseError) {
        let conn = try openHandle(sql)
        EventLoopGuard.check("PQexec")
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        try check(result, conn, sql: sql, binds: [])
    }

    @discardableResult
    public func query(_ sql: String, _ binds: [DatabaseValue]) throws(DatabaseError) -> [DatabaseRow] {
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
            EventLoopGuard.check("PQexecPrepared")
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
        guard let result else { return [] }

        EventLoopGuard.check("PQntuples")
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
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
        return rows
    }

    // MARK: - Internals

    private func openHandle(_ sql: String) throws(DatabaseError) -> OpaquePointer {
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
        EventLoopGuard.check("PQprepare")
        let result = PQprepare(conn, name, sql, 0, nil)
        defer { PQclear(result) }
        try check(result, conn, sql: sql, binds: [])
        EventLoopGuard.check("PQdescribePrepared")
        let description = PQdescribePrepared(conn, name)
        defer { PQclear(description) }
        try check(description, conn, sql: sql, binds: [])
        let statement = (name: name, parameterCount: Int(PQnparams(description)))
        statements[sql] = statement
        return statement
    }

    /// Throws unless `result` reports success; classifies the failure and marks the connection unusable
    /// when it is broken.
    private func check(
        _ result: OpaquePointer?, _ conn: OpaquePointer, sql: String, binds: [DatabaseValue]
    ) throws(DatabaseError) {
        var sqlState: String?
        var message: String
        if let result {
            EventLoopGuard.check("PQresultStatus")
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
                return
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                // Nothing here speaks COPY; a connection left in COPY mode is of no further use.
                isUsable = false
                throw DatabaseError(.connectionLost, message: "COPY is not supported on this connection", sql: sql)
            default:
                break
            }
            sqlState = PQresultErrorField(result, PostgresConnection.diagSQLState).map { String(cString: $0) }
            message = PQresultErrorField(result, PostgresConnection.diagMessagePrimary).map { String(cString: $0) }
                ?? PostgresConnection.firstLines(PQresultErrorMessage(result).map { String(cString: $0) } ?? "")
        } else {
            message = PostgresConnection.errorMessage(conn)
        }
        if message.isEmpty { message = "unknown error" }
        message = PostgresConnection.redactingBinds(binds, in: message)

        EventLoopGuard.check("PQstatus")
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

    /// Appends `connect_timeout` to a URI or `key=value` string that does not set one.
    static func addingConnectTimeout(to uri: String) -> String {
        guard !uri.contains("connect_timeout=") else { return uri }
        let setting = "connect_timeout=\(defaultConnectTimeoutSeconds)"
        if uri.hasPrefix("postgres://") || uri.hasPrefix("postgresql://") {
            return uri + (uri.contains("?") ? "&" : "?") + setting
        }
        return uri.isEmpty ? setting : uri + " " + setting
    }

    /// The connection's last error, on one line.
    private static func errorMessage(_ conn: OpaquePointer) -> String {
        EventLoopGuard.check("PQerrorMessage")
        return firstLines(PQerrorMessage(conn).map { String(cString: $0) } ?? "")
    }

    /// libpq's messages span lines (one per address tried, plus hints); an error is one line.
    static func firstLines(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline)
            .map { line in String(line.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
            .filter { !$0.isEmpty }
            .joined(separator: "; ")
    }

    /// Removes the connection's password from a message, should a server or libpq ever echo it.
    private static func scrubbed(_ message: String, conn: OpaquePointer) -> String {
        EventLoopGuard.check("PQpass")
        guard let pointer = PQpass(conn) else { return message }
        let password = String(cString: pointer)
        guard !password.isEmpty else { return message }
        return message.replacing(password, with: "***")
    }

    /// PostgreSQL quotes bad input back (`invalid input syntax for type integer: "…"`); errors never carry
    /// bound values, so a quoted bound value becomes `"***"`.
    static func redactingBinds(_ binds: [DatabaseValue], in message: String) -> String {
        var message = message
        for bind in binds {
            guard case .text(let text) = bind, !text.isEmpty else { continue }
            message = message.replacing("\"\(text)\"", with: "\"***\"")
        }
        return message
    }
}

// A connection is confined to the pool thread that opened it; sending it elsewhere is a bug.
@available(*, unavailable)
extension PostgresConnection: Sendable {}
