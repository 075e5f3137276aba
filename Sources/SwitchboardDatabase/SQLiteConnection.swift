import SwitchboardProtocol
import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking connection to one SQLite database file, through libsqlite3.
///
/// Opened in WAL mode with a busy timeout, so readers do not block the writer and a briefly locked
/// database is waited for rather than failed. Statements are prepared once and cached by SQL text.
///
/// A read-only connection (``init(path:busyTimeoutMilliseconds:readOnly:)`` with `readOnly`) opens the file
/// `SQLITE_OPEN_READONLY` and changes nothing: no journal-mode switch, no file created, no WAL checkpoint
/// when it closes. `switchboard history` uses it, so an operator with read access only can run it.
///
/// The file's identity (device and inode) is taken at open. SQLite in WAL mode does not notice the file
/// being deleted or replaced under it: it goes on committing into the unlinked inode (or into a WAL that
/// no longer belongs to the file at the path). ``verifyFileIdentity()`` compares the path's identity with
/// the one opened; writers call it before each transaction.
///
/// Thread ownership: one ``DatabasePool`` worker thread creates, uses and closes it. The handle is opened
/// `SQLITE_OPEN_NOMUTEX` because it is never shared.
public final class SQLiteConnection: DatabaseConnection {
    public var dialect: SQLDialect { .sqlite }
    public private(set) var isUsable = true

    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// The file this connection opened; shown in errors.
    public let path: String
    /// Whether the connection was opened read-only.
    public let isReadOnly: Bool
    /// The device and inode of the file at ``path`` when it was opened (`nil` if `stat` failed then).
    private var fileIdentity: FileIdentity?

    /// SQLite's process-wide settings, applied once before the first connection opens (see
    /// `switchboard_sqlite_configure`): `false` if the library had already been initialised.
    private static let libraryConfigured: Bool = switchboard_sqlite_configure() == SQLITE_OK

    /// Opens the database at `path`, creating it unless `readOnly`. `busyTimeoutMilliseconds` bounds how
    /// long a statement waits for another process's lock before failing with kind `busy`.
    public init(path: String, busyTimeoutMilliseconds: Int32 = 5_000, readOnly: Bool = false) throws(DatabaseError) {
        BlockingCallGuard.checkDatabaseCall("sqlite3_open_v2")
        _ = Self.libraryConfigured
        self.path = path
        self.isReadOnly = readOnly
        var db: OpaquePointer?
        let flags =
            readOnly
            ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw DatabaseError(.connectFailed, message: "cannot open \(path): \(message)", sqliteCode: rc)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        fileIdentity = FileIdentity(path: path)
        do {
            if readOnly {
                // Switching the journal mode writes the file's header: a reader leaves it as the server set it.
                try executeScript("PRAGMA query_only=ON;")
            } else {
                try executeScript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            }
        } catch {
            close()
            throw DatabaseError(.connectFailed, message: "cannot use \(path): \(error.message)", sqliteCode: error.sqliteCode)
        }
    }

    deinit { close() }

    /// Finalises every cached statement and closes the handle. Safe to call twice.
    public func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
        isUsable = false
    }

    public func executeScript(_ sql: String) throws(DatabaseError) {
        BlockingCallGuard.checkDatabaseCall("sqlite3_exec")
        let db = try openHandle(sql)
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(errorMessage)
            throw error(code: rc, message: message, sql: sql)
        }
    }

    @discardableResult
    public func fetch(_ sql: String, _ binds: [DatabaseValue]) throws(DatabaseError) -> QueryResult {
        BlockingCallGuard.checkDatabaseCall("sqlite3_step")
        let db = try openHandle(sql)
        let statement = try prepared(sql, db)
        // Text is bound from one buffer per call, which outlives the statement's use of it (SQLITE_STATIC):
        // passing each String as a C string copied it into an array, and SQLITE_TRANSIENT made SQLite copy
        // it again, two allocations per value where a batch of chat lines binds four values a line.
        let textBytes = binds.reduce(0) { total, value in
            if case .text(let text) = value { return total + text.utf8.count + 1 }
            return total
        }
        let texts = UnsafeMutableRawBufferPointer.allocate(byteCount: max(textBytes, 1), alignment: 1)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            texts.deallocate()  // after the bindings that point into it are cleared
        }
        var textOffset = 0
        for (offset, value) in binds.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .integer(let integer): rc = sqlite3_bind_int64(statement, index, integer)
            case .text(let text):
                let start = texts.baseAddress! + textOffset
                textOffset += SQLiteConnection.copyCString(text, to: start)
                // -1: up to the first NUL, as binding the String as a C string did.
                rc = sqlite3_bind_text(
                    statement, index, start.assumingMemoryBound(to: CChar.self), -1, switchboard_sqlite_static())
            }
            guard rc == SQLITE_OK else { throw error(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql) }
        }
        var rows: [DatabaseRow] = []
        let columns = sqlite3_column_count(statement)
        let names = (0..<columns).map { column in
            sqlite3_column_name(statement, column).map { String(cString: $0) } ?? ""
        }
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else {
                throw error(code: sqlite3_extended_errcode(db), message: String(cString: sqlite3_errmsg(db)), sql: sql)
            }
            var row: DatabaseRow = []
            row.reserveCapacity(Int(columns))
            for column in 0..<columns {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_NULL: row.append(.null)
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(statement, column)))
                default:
                    if let text = sqlite3_column_text(statement, column) {
                        row.append(.text(String(cString: text)))
                    } else {
                        row.append(.null)
                    }
                }
            }
            rows.append(row)
        }
        // sqlite3_changes counts the last write on this connection, so a read must not report it.
        let changed = sqlite3_stmt_readonly(statement) == 0 ? Int(sqlite3_changes64(db)) : 0
        return QueryResult(sql: sql, columns: names, rows: rows, changedRows: changed)
    }

    /// Copies `text`'s UTF-8 and a NUL to `destination` (room for `text.utf8.count + 1` bytes); returns the
    /// bytes written.
    private static func copyCString(_ text: String, to destination: UnsafeMutableRawPointer) -> Int {
        let count = text.utf8.count
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { bytes in
            if let base = bytes.baseAddress { destination.copyMemory(from: base, byteCount: count) }
        }
        if copied == nil {
            for (offset, byte) in text.utf8.enumerated() { destination.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self) }
        }
        destination.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
        return count + 1
    }

    /// Throws when the file at ``path`` is no longer the file this connection opened: it was deleted,
    /// moved away or replaced. The error has kind `connectionLost` and SQLite's code for this,
    /// `SQLITE_READONLY_DBMOVED` (see ``DatabaseError/isDatabaseFileMoved``); the connection stays
    /// usable on purpose, so the pool does not reopen the path and silently start a fresh, empty database.
    /// One `stat` call: cheap enough to run before every write transaction.
    public func verifyFileIdentity() throws(DatabaseError) {
        BlockingCallGuard.checkDatabaseCall("stat")
        guard let fileIdentity else { return }
        let what: String
        switch FileIdentity(path: path) {
        case .none: what = "was deleted or moved away"
        case .some(let now) where now != fileIdentity: what = "was replaced by another file"
        case .some: return
        }
        throw DatabaseError(
            .connectionLost,
            message: "the database file \(path) \(what) while the server had it open; history is not being "
                + "written (events stay queued): put the original file back at \(path), or restart the server",
            sqliteCode: SQLiteConnection.databaseMovedCode)
    }

    /// `SQLITE_READONLY_DBMOVED` (`SQLITE_READONLY | 4 << 8`), a macro that does not import into Swift.
    static let databaseMovedCode: Int32 = 1032

    private func openHandle(_ sql: String) throws(DatabaseError) -> OpaquePointer {
        guard let handle else {
            throw DatabaseError(.connectionLost, message: "connection to \(path) is closed", sql: sql)
        }
        return handle
    }

    private func prepared(_ sql: String, _ db: OpaquePointer) throws(DatabaseError) -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw error(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql)
        }
        statements[sql] = statement
        return statement
    }

    private func error(code: Int32, message: String, sql: String) -> DatabaseError {
        let primary = code & 0xff
        let kind: DatabaseError.Kind
        switch primary {
        case SQLITE_BUSY, SQLITE_LOCKED: kind = .busy
        case SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_CANTOPEN, SQLITE_FULL: kind = .connectionLost
        default: kind = .statementFailed
        }
        if kind == .connectionLost { isUsable = false }
        return DatabaseError(kind, message: message, sql: sql, sqliteCode: code)
    }
}

/// A file's device and inode number: what stays the same while a file is renamed or rewritten in place,
/// and changes when another file takes its path.
struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64

    /// The identity of the file at `path` now, or `nil` when there is none (or it cannot be read).
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

extension DatabaseError {
    /// Whether this is ``SQLiteConnection/verifyFileIdentity()`` reporting that the database file was
    /// deleted, moved or replaced under a running connection.
    public var isDatabaseFileMoved: Bool { sqliteCode == SQLiteConnection.databaseMovedCode }
}

// A connection is confined to the pool thread that opened it; sending it elsewhere is a bug.
@available(*, unavailable)
extension SQLiteConnection: Sendable {}
