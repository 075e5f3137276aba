/// A value bound to, or read from, a SQL statement. Both backends speak this small vocabulary;
/// timestamps travel as ISO 8601 UTC text (see ``Timestamp``).
public enum DatabaseValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)

    /// The integer, or `nil` for anything else. Text holding digits is parsed (libpq returns text).
    public var int64: Int64? {
        switch self {
        case .integer(let value): return value
        case .text(let text): return Int64(text)
        case .null: return nil
        }
    }

    /// The text, or `nil` for `NULL`. Integers are rendered in decimal.
    public var string: String? {
        switch self {
        case .text(let text): return text
        case .integer(let value): return String(value)
        case .null: return nil
        }
    }
}

/// One result row: the columns in `SELECT` order.
public typealias DatabaseRow = [DatabaseValue]
