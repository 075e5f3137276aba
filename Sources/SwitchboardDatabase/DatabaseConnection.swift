/// A blocking connection to one database.
///
/// Ownership: a connection belongs to exactly one ``DatabasePool`` worker thread for its whole life and is
/// never touched from any other thread (adbapi's one-connection-per-thread model). Every method blocks; in
/// debug builds each one traps when called on an event loop thread (see ``BlockingCallGuard``).
public protocol DatabaseConnection: AnyObject {
    /// Which SQL this connection speaks.
    var dialect: SQLDialect { get }

    /// Runs a script of one or more statements with no parameters (migration files, `BEGIN`, `COMMIT`).
    func executeScript(_ sql: String) throws(DatabaseError)

    /// Runs one parameterised statement and returns every row it produced, with the result's column names
    /// (read rows by name: ``QueryResult/decodeRows(_:)``). Statements are prepared once per connection and
    /// cached by their SQL text. Values are only ever bound, never spliced into SQL.
    @discardableResult
    func fetch(_ sql: String, _ binds: [DatabaseValue]) throws(DatabaseError) -> QueryResult

    /// `false` once the connection is known to be broken (server gone, socket cut). The pool then drops it
    /// and opens a new one for the next interaction.
    var isUsable: Bool { get }
}

extension DatabaseConnection {
    /// Runs one parameterised statement (see ``fetch(_:_:)``) and returns its rows without the column
    /// names: for statements whose result is not read, and for tests.
    @discardableResult
    public func query(_ sql: String, _ binds: [DatabaseValue]) throws(DatabaseError) -> [DatabaseRow] {
        try fetch(sql, binds).rows
    }

    /// Runs `body` inside a transaction: commits when it returns, rolls back when it throws
    /// (adbapi's `runInteraction`). The rollback's own failure is ignored: the body's error is the news.
    public func transaction<T>(_ body: (Self) throws(DatabaseError) -> T) throws(DatabaseError) -> T {
        try executeScript(dialect == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN")
        do {
            let result = try body(self)
            try executeScript("COMMIT")
            return result
        } catch {
            if isUsable { try? executeScript("ROLLBACK") }
            throw error
        }
    }
}
