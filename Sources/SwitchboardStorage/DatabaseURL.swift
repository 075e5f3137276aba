import Foundation

/// Where history lives: `sqlite:PATH` or a libpq connection URI (`postgres://…`, `postgresql://…`).
///
/// ```
/// sqlite:switchboard.sqlite              relative to the working directory
/// sqlite:/var/lib/switchboard/db.sqlite
/// postgres://user:secret@db.example:5432/chat?sslmode=require
/// ```
/// ``redacted`` is the only form that may be logged or shown: it replaces any password with `***`.
public enum DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(uri: String)

    /// The default when neither `--database` nor `DATABASE_URL` is given.
    public static let defaultURL = DatabaseURL.sqlite(path: "switchboard.sqlite")

    /// Parses a database URL, or throws a ``DatabaseError`` of kind `invalidURL` that says what is accepted.
    public init(parsing text: String) throws(DatabaseError) {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }  // sqlite:///abs/path and sqlite://rel
            guard !path.isEmpty else {
                throw DatabaseError(.invalidURL, message: "sqlite: needs a file path, e.g. sqlite:switchboard.sqlite")
            }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(uri: text)
        } else {
            throw DatabaseError(
                .invalidURL,
                message: "unsupported database URL '\(DatabaseURL.redact(text))': use sqlite:PATH or postgres://USER@HOST:PORT/DB"
            )
        }
    }

    public var dialect: SQLDialect {
        switch self {
        case .sqlite: return .sqlite
        case .postgres: return .postgres
        }
    }

    /// The URL with any password replaced by `***`; safe for logs, errors and output.
    public var redacted: String {
        switch self {
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let uri): return DatabaseURL.redact(uri)
        }
    }

    public var description: String { redacted }

    /// Replaces the password in `scheme://user:password@host…` and any `password=` query parameter.
    public static func redact(_ uri: String) -> String {
        var result = uri
        if let schemeEnd = result.range(of: "://") {
            let afterScheme = result[schemeEnd.upperBound...]
            let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? afterScheme.endIndex
            if let at = afterScheme[..<authorityEnd].lastIndex(of: "@"),
                let colon = afterScheme[..<at].firstIndex(of: ":")
            {
                result.replaceSubrange(result.index(after: colon)..<at, with: "***")
            }
        }
        // password=... in the query string (libpq accepts it there too)
        var output = ""
        var rest = Substring(result)
        while let range = rest.range(of: "password=") {
            output += rest[..<range.upperBound]
            output += "***"
            rest = rest[range.upperBound...]
            let end = rest.firstIndex(where: { $0 == "&" || $0 == " " }) ?? rest.endIndex
            rest = rest[end...]
        }
        output += rest
        return output
    }
}
