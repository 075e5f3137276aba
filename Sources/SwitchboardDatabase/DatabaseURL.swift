import Foundation

/// Where history lives: `sqlite:PATH` or a PostgreSQL connection URI (`postgres://…`, `postgresql://…`).
///
/// ```
/// sqlite:switchboard.sqlite              relative to the working directory
/// sqlite:/var/lib/switchboard/db.sqlite
/// postgres://user:secret@db.example:5432/chat?sslmode=require
/// ```
/// A PostgreSQL URI is parsed once, here, into ``PostgresConnectionParameters`` (host, port, user, password,
/// database, other settings), which is what connects; nobody parses it again, and the URI text is never
/// handed to libpq.
/// ``redacted`` is the only form that may be logged or shown: it never contains the password.
public enum DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    /// A PostgreSQL URI, parsed (``PostgresConnectionParameters/uri`` keeps the text as given).
    case postgres(PostgresConnectionParameters)

    /// The default when neither `--database` nor `DATABASE_URL` is given.
    public static let defaultURL = DatabaseURL.sqlite(path: "switchboard.sqlite")

    /// Parses a database URL, or throws a ``DatabaseError`` of kind `invalidURL` that says what is accepted
    /// (and never repeats a password).
    public init(parsing text: String) throws(DatabaseError) {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }  // sqlite:///abs/path and sqlite://rel
            guard !path.isEmpty else {
                throw DatabaseError(.invalidURL, message: "sqlite: needs a file path, e.g. sqlite:switchboard.sqlite")
            }
            self = .sqlite(path: path)
        } else if PostgresConnectionParameters.isURI(text) {
            self = .postgres(try PostgresConnectionParameters(parsing: text))
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

    /// The URL without its password; safe for logs, errors and output.
    public var redacted: String {
        switch self {
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let parameters): return parameters.redacted
        }
    }

    public var description: String { redacted }

    /// `uri` with any password replaced by `***`: in `scheme://user:password@host…` (the password may hold
    /// raw `@ : / ?`) and in any `password=` query parameter, in any letter case. Works for any scheme, and
    /// for PostgreSQL URIs that do not parse.
    public static func redact(_ uri: String) -> String {
        if let parameters = try? PostgresConnectionParameters(parsing: uri) { return parameters.redacted }
        guard let schemeEnd = uri.range(of: "://") else { return uri }
        let scheme = uri[..<schemeEnd.upperBound]
        var rest = uri[schemeEnd.upperBound...]
        var userPart = ""
        if let split = URISplit.userInfo(in: rest) {
            let userInfo = rest[..<split]
            if let colon = userInfo.firstIndex(of: ":") {
                userPart = userInfo[..<colon] + ":***@"
            } else {
                userPart = userInfo + "@"
            }
            rest = rest[rest.index(after: split)...]
        }
        guard let queryStart = rest.firstIndex(of: "?") else { return scheme + userPart + rest }
        let query = rest[rest.index(after: queryStart)...].split(separator: "&", omittingEmptySubsequences: false)
            .map { (item: Substring) -> String in
                guard let equals = item.firstIndex(of: "=") else { return String(item) }
                let key = String(item[item.startIndex..<equals])
                return PostgresConnectionParameters.isPasswordKey(key) ? key + "=***" : String(item)
            }
        return scheme + userPart + rest[rest.startIndex...queryStart] + query.joined(separator: "&")
    }
}

