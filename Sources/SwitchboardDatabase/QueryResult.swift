/// What one statement produced: the names of its result columns, in `SELECT` order, and its rows.
///
/// Rows are read by column name, never by position, and a value that does not fit is a thrown
/// ``DatabaseError`` of kind `decodingFailed` naming the column — a row never vanishes silently:
///
/// ```
/// let records = try connection.fetch(sql, binds).decodeRows { row throws(DatabaseError) in
///     Record(id: try row.decode("id"), nickname: try row.decodeIfPresent("nickname"))
/// }
/// ```
///
/// SQLite names a column by its alias or, without one, by its name in the table (`sqlite3_column_name`);
/// PostgreSQL likewise (`PQfname`), except that an expression without an alias is named after its
/// function (`to_char`), so statements give every computed column an `AS` name.
public struct QueryResult: Sendable, Equatable {
    /// The SQL that produced this result; named in decoding errors.
    public var sql: String
    /// The result columns' names, in order.
    public var columns: [String]
    /// The values, one array per row, in ``columns`` order.
    public var rows: [DatabaseRow]
    /// For a statement that writes (`INSERT`, `UPDATE`, `DELETE`): how many rows it changed, so a write can
    /// tell whether its `WHERE` matched without `RETURNING` (which costs SQLite a temporary table per run).
    /// 0 for a statement that only reads.
    public var changedRows: Int

    public init(sql: String, columns: [String], rows: [DatabaseRow], changedRows: Int = 0) {
        self.sql = sql
        self.columns = columns
        self.rows = rows
        self.changedRows = changedRows
    }

    /// Decodes every row with `body`, in order. The first row that does not decode ends it with that error.
    public func decodeRows<T>(_ body: (Row) throws(DatabaseError) -> T) throws(DatabaseError) -> [T] {
        let index = ColumnIndex(columns)
        var decoded: [T] = []
        decoded.reserveCapacity(rows.count)
        for values in rows {
            decoded.append(try body(Row(values: values, index: index, sql: sql)))
        }
        return decoded
    }

    /// The first row, if there is one, for reading by name.
    public var firstRow: Row? {
        rows.first.map { Row(values: $0, index: ColumnIndex(columns), sql: sql) }
    }

    /// Where each column name is found; the first of two columns with the same name wins.
    struct ColumnIndex: Sendable {
        let names: [String]
        let positions: [String: Int]

        init(_ names: [String]) {
            self.names = names
            var positions: [String: Int] = [:]
            for (position, name) in names.enumerated() where positions[name] == nil { positions[name] = position }
            self.positions = positions
        }
    }

    /// One result row, read by column name.
    public struct Row: Sendable {
        /// The row's values in column order.
        public let values: DatabaseRow
        let index: ColumnIndex
        let sql: String

        /// The value of `column`, decoded as `T`. Throws (kind `decodingFailed`, naming the column) when the
        /// result has no such column, the value is `NULL`, or it is not a `T`.
        public func decode<T: DatabaseDecodable>(_ column: String, as type: T.Type = T.self) throws(DatabaseError) -> T {
            guard let value = try decodeIfPresent(column, as: type) else {
                throw failure(column, "is NULL where \(T.databaseDescription) was expected")
            }
            return value
        }

        /// The value of `column` decoded as `T`, or `nil` when it is `NULL`. Throws (kind `decodingFailed`,
        /// naming the column) when the result has no such column or the value is not a `T`.
        public func decodeIfPresent<T: DatabaseDecodable>(
            _ column: String, as type: T.Type = T.self
        ) throws(DatabaseError) -> T? {
            guard let position = index.positions[column], position < values.count else {
                throw failure(column, "is missing from the result (it has \(index.names.joined(separator: ", ")))")
            }
            let value = values[position]
            if value == .null { return nil }
            guard let decoded = T(databaseValue: value) else {
                // The value itself is left out: it may be someone's chat line.
                let found: String
                switch value {
                case .integer: found = "an integer"
                case .text: found = "text"
                case .null: found = "NULL"
                }
                throw failure(column, "holds \(found) that is not \(T.databaseDescription)")
            }
            return decoded
        }

        private func failure(_ column: String, _ problem: String) -> DatabaseError {
            DatabaseError(.decodingFailed, message: "column \(column) \(problem)", sql: sql, column: column)
        }
    }
}

/// A Swift type a ``DatabaseValue`` can be read as (see ``QueryResult/Row/decode(_:as:)``).
public protocol DatabaseDecodable {
    /// The value as this type, or `nil` when it is not one. Never called with `.null`.
    init?(databaseValue: DatabaseValue)
    /// What a value of this type is, for errors: `an integer`, `an ISO 8601 UTC time`.
    static var databaseDescription: String { get }
}

extension Int64: DatabaseDecodable {
    /// Integers, and text holding one (libpq returns text).
    public init?(databaseValue: DatabaseValue) {
        guard let value = databaseValue.int64 else { return nil }
        self = value
    }

    public static var databaseDescription: String { "an integer" }
}

extension Int: DatabaseDecodable {
    public init?(databaseValue: DatabaseValue) {
        guard let value = databaseValue.int64.flatMap(Int.init(exactly:)) else { return nil }
        self = value
    }

    public static var databaseDescription: String { "an integer" }
}

extension String: DatabaseDecodable {
    /// Text only: an integer where text is expected means the statement and the decoder disagree.
    public init?(databaseValue: DatabaseValue) {
        guard case .text(let text) = databaseValue else { return nil }
        self = text
    }

    public static var databaseDescription: String { "text" }
}

extension Timestamp: DatabaseDecodable {
    /// ISO 8601 UTC text, as both dialects' statements return times.
    public init?(databaseValue: DatabaseValue) {
        guard case .text(let text) = databaseValue, let timestamp = Timestamp(iso8601: text) else { return nil }
        self = timestamp
    }

    public static var databaseDescription: String { "an ISO 8601 UTC time" }
}
