/// A database failure, with the context needed to act on it and none of the bound values.
///
/// Like postgres-nio's `PSQLError` and GRDB's `DatabaseError`, it carries the backend's own code (SQLite's
/// extended result code, or PostgreSQL's SQLSTATE), the server's message and the SQL that failed — never
/// the parameters bound to it, and never a password.
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is, independent of the backend.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Could not open or connect to the database.
        public static let connectFailed = Kind("connect failed")
        /// The connection broke during use; the pool replaces it.
        public static let connectionLost = Kind("connection lost")
        /// The database is locked or busy; trying again later is expected to work.
        public static let busy = Kind("busy")
        /// A statement failed (syntax, constraint, type).
        public static let statementFailed = Kind("statement failed")
        /// The migrations recorded in the database do not match the ones compiled into this binary.
        public static let migrationMismatch = Kind("migration mismatch")
        /// A result row did not hold what its reader expected (a missing column, a `NULL`, a wrong type);
        /// ``DatabaseError/column`` names the column.
        public static let decodingFailed = Kind("decoding failed")
        /// The database URL could not be understood.
        public static let invalidURL = Kind("invalid database URL")
    }

    public var kind: Kind
    /// SQLite's extended result code, when SQLite raised it.
    public var sqliteCode: Int32?
    /// PostgreSQL's five-character SQLSTATE, when PostgreSQL raised it.
    public var sqlState: String?
    /// The backend's message (or ours), one line.
    public var message: String
    /// The SQL that failed, if a statement was involved.
    public var sql: String?
    /// The result column that could not be decoded (kind `decodingFailed`).
    public var column: String?
    /// Only a person can fix this: the database, role or directory does not exist, the password is wrong,
    /// the server does not offer the TLS the URL requires, the file is read-only. Trying again unchanged
    /// fails the same way, so start-up reports it at once instead of retrying.
    public var requiresIntervention: Bool

    public init(
        _ kind: Kind, message: String, sql: String? = nil, sqliteCode: Int32? = nil, sqlState: String? = nil,
        requiresIntervention: Bool = false, column: String? = nil
    ) {
        self.column = column
        self.kind = kind
        self.message = message
        self.sql = sql
        self.sqliteCode = sqliteCode
        self.sqlState = sqlState
        self.requiresIntervention = requiresIntervention
    }

    /// Whether the failure is about reaching the database rather than a statement: the connection
    /// dropped, the server is restarting or refused us, the database is locked. History writes that fail
    /// this way stay queued — also when ``requiresIntervention`` is set, as a person may fix it while the
    /// server runs.
    public var isTransient: Bool {
        kind == .connectionLost || kind == .connectFailed || kind == .busy
    }

    /// Whether waiting alone may cure it: transient and not ``requiresIntervention`` (connection refused,
    /// timeout, `the database system is starting up`, too many connections, a locked file). Start-up
    /// retries only these.
    public var healsByWaiting: Bool { isTransient && !requiresIntervention }

    public var description: String {
        var text = "database error (\(kind)"
        if let sqliteCode { text += ", SQLite code \(sqliteCode)" }
        if let sqlState { text += ", SQLSTATE \(sqlState)" }
        text += "): \(message)"
        if let sql { text += " [SQL: \(sql)]" }
        return text
    }
}
