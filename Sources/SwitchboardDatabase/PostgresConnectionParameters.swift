import Foundation

/// PostgreSQL connection settings as libpq keywords, parsed once from a `postgres://` URI.
///
/// ```
/// postgres://USER:PASSWORD@HOST:PORT,HOST2:PORT2/DBNAME?KEY=VALUE&…
///            └────┬──────┘ └──────────┬────────┘ └──┬─┘ └─────┬────┘
///   user, password (up to    host, port (lists;     dbname   any libpq keyword; keys are
///   the last "@" before the  [v6] in brackets;                matched ignoring case, so
///   host; raw : / ? @ kept)  %2F for socket dirs)             ?PASSWORD= is the password
/// ```
/// Percent escapes are decoded (`%40` is `@`); a `%` not followed by two hex digits is kept as it is, so
/// a password such as `pw%zz` works as written. `ssl=true` means `sslmode=require`, as in libpq.
/// The values go to libpq as keyword/value arrays (`PQconnectdbParams`), never as a rebuilt string, so
/// no character in a value can change what another keyword means.
public struct PostgresConnectionParameters: Sendable, Equatable {
    /// The URI as given (it holds the password: never log or show it; ``redacted`` is for that). Empty when
    /// the parameters were not made from a URI.
    public private(set) var uri = ""
    /// libpq keyword/value pairs in the order given; each keyword at most once (a later one replaces an
    /// earlier one, as in libpq).
    public private(set) var keywords: [(key: String, value: String)] = []
    /// The password as it was spelled in the URI (possibly percent-encoded), for scrubbing.
    private var writtenPasswords: [String] = []
    /// How the URI is shown: scheme, `user:***@` and hosts as written.
    private var redactedPrefix = ""
    private var redactedPathAndQuery = ""

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.keywords.elementsEqual(rhs.keywords, by: { $0.key == $1.key && $0.value == $1.value })
    }

    /// Whether `text` is a PostgreSQL URI (`postgres://` or `postgresql://`).
    public static func isURI(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    static func isPasswordKey(_ key: String) -> Bool {
        (percentDecoded(key) ?? key).lowercased() == "password"
    }

    /// Parses a `postgres://` URI. Errors are kind `invalidURL` and never quote the URI.
    public init(parsing uri: String) throws(DatabaseError) {
        self.uri = uri
        guard let schemeEnd = uri.range(of: "://"), PostgresConnectionParameters.isURI(uri) else {
            throw DatabaseError(.invalidURL, message: "a PostgreSQL URL starts with postgres:// or postgresql://")
        }
        redactedPrefix = String(uri[..<schemeEnd.upperBound])
        var rest = uri[schemeEnd.upperBound...]

        if let split = URISplit.userInfo(in: rest) {
            let userInfo = rest[..<split]
            let colon = userInfo.firstIndex(of: ":")
            let user = userInfo[..<(colon ?? userInfo.endIndex)]
            if !user.isEmpty { set("user", try Self.decode(user, "the user name")) }
            redactedPrefix += user
            if let colon {
                let written = String(userInfo[userInfo.index(after: colon)...])
                set("password", try Self.decode(Substring(written), "the password"))
                writtenPasswords.append(written)
                redactedPrefix += ":***"
            }
            redactedPrefix += "@"
            rest = rest[rest.index(after: split)...]
        }

        let hostEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        try parseHosts(rest[..<hostEnd])
        redactedPrefix += rest[..<hostEnd]
        rest = rest[hostEnd...]

        if rest.first == "/" {
            let pathEnd = rest.firstIndex(of: "?") ?? rest.endIndex
            let dbname = rest[rest.index(after: rest.startIndex)..<pathEnd]
            if !dbname.isEmpty { set("dbname", try Self.decode(dbname, "the database name")) }
            redactedPathAndQuery = String(rest[..<pathEnd])
            rest = rest[pathEnd...]
        }
        if rest.first == "?" {
            var shown: [String] = []
            for item in rest.dropFirst().split(separator: "&") {
                guard let equals = item.firstIndex(of: "=") else {
                    throw DatabaseError(.invalidURL, message: "a query parameter in the database URL has no '=value'")
                }
                let key = try Self.decode(item[..<equals], "a query parameter name").lowercased()
                let written = item[item.index(after: equals)...]
                let value = try Self.decode(written, key == "password" ? "the password" : "the value of \(key)")
                switch key {
                case "password":
                    writtenPasswords.append(String(written))
                    shown.append(item[..<equals] + "=***")
                case "ssl" where value == "true":
                    set("sslmode", "require")
                    shown.append(String(item))
                    continue
                default:
                    shown.append(String(item))
                }
                set(key, value)
            }
            if !shown.isEmpty { redactedPathAndQuery += "?" + shown.joined(separator: "&") }
        }
    }

    /// Builds parameters from libpq keywords directly (a `key=value` connection string parsed by libpq).
    init(keywords: [(key: String, value: String)]) {
        for (key, value) in keywords { set(key, value) }
        redactedPathAndQuery = keywords.filter { $0.key != "password" }.map { "\($0.key)=\($0.value)" }
            .joined(separator: " ")
        if password != nil { redactedPathAndQuery += " password=***" }
    }

    /// The value of a libpq keyword, if set.
    public subscript(key: String) -> String? { keywords.first(where: { $0.key == key })?.value }

    public var host: String? { self["host"] }
    public var port: String? { self["port"] }
    public var user: String? { self["user"] }
    public var password: String? { self["password"] }
    public var dbname: String? { self["dbname"] }

    /// `connect_timeout` in seconds, or `defaultValue` when not given or not a number.
    public func connectTimeoutSeconds(default defaultValue: Int) -> Int {
        self["connect_timeout"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? defaultValue
    }

    /// How many hosts libpq may try in turn (`host=a,b`).
    public var hostCount: Int { max(1, host?.split(separator: ",", omittingEmptySubsequences: false).count ?? 1) }

    /// The URI without the password, in any spelling: `postgres://user:***@host:port/db?sslmode=require`.
    public var redacted: String { redactedPrefix + redactedPathAndQuery }

    /// The keywords handed to libpq: these, plus `connect_timeout` (seconds) when they have none.
    public func libpqKeywords(defaultConnectTimeout: Int) -> [(key: String, value: String)] {
        var result = keywords
        if self["connect_timeout"] == nil { result.append(("connect_timeout", String(defaultConnectTimeout))) }
        return result
    }

    /// Every way the password may appear in text — as decoded, as written in the URI, percent-encoded —
    /// longest first, leaving out one-character spellings (replacing every `a` in a message would only
    /// garble it). Messages are scrubbed of all of them.
    public var passwordSpellings: [String] {
        guard let password, !password.isEmpty else { return [] }
        let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password
        var spellings = Set([password, encoded] + writtenPasswords)
        spellings = spellings.filter { $0.count > 1 }
        return spellings.sorted { $0.count > $1.count }
    }

    /// `message` with every spelling of the password replaced by `***`.
    public func scrubbing(_ message: String) -> String {
        var message = message
        for spelling in passwordSpellings { message = message.replacing(spelling, with: "***") }
        return message
    }

    // MARK: - Parsing

    private mutating func set(_ key: String, _ value: String) {
        if let index = keywords.firstIndex(where: { $0.key == key }) {
            keywords[index].value = value
        } else {
            keywords.append((key, value))
        }
    }

    /// `host1:port1,[::1]:port2,…` into libpq's comma-separated `host` and `port` lists.
    private mutating func parseHosts(_ spec: Substring) throws(DatabaseError) {
        guard !spec.isEmpty else { return }
        var hosts: [String] = []
        var ports: [String] = []
        for entry in spec.split(separator: ",", omittingEmptySubsequences: false) {
            var host: Substring
            var port: Substring = ""
            if entry.first == "[" {
                guard let close = entry.firstIndex(of: "]") else {
                    throw DatabaseError(.invalidURL, message: "an IPv6 host in the database URL lacks its closing ']'")
                }
                host = entry[entry.index(after: entry.startIndex)..<close]
                let after = entry[entry.index(after: close)...]
                if after.first == ":" { port = after.dropFirst() } else if !after.isEmpty {
                    throw DatabaseError(.invalidURL, message: "unexpected text after an IPv6 host in the database URL")
                }
            } else if let colon = entry.lastIndex(of: ":") {
                host = entry[..<colon]
                port = entry[entry.index(after: colon)...]
            } else {
                host = entry
            }
            guard port.allSatisfy(\.isASCII) && port.allSatisfy(\.isNumber), (Int(port) ?? 0) <= 65_535 else {
                throw DatabaseError(.invalidURL, message: "the port in the database URL must be a number up to 65535")
            }
            hosts.append(try Self.decode(host, "the host"))
            ports.append(String(port))
        }
        if hosts.contains(where: { !$0.isEmpty }) { set("host", hosts.joined(separator: ",")) }
        if ports.contains(where: { !$0.isEmpty }) { set("port", ports.joined(separator: ",")) }
    }

    private static func decode(_ text: Substring, _ what: String) throws(DatabaseError) -> String {
        guard let decoded = percentDecoded(text) else {
            throw DatabaseError(.invalidURL, message: "\(what) in the database URL is not valid UTF-8 once decoded")
        }
        guard !decoded.utf8.contains(0) else {
            throw DatabaseError(.invalidURL, message: "\(what) in the database URL contains a NUL character (%00)")
        }
        return decoded
    }

    /// Decodes `%XX` escapes; a `%` without two hex digits stays as it is. Nil if the bytes are not UTF-8.
    static func percentDecoded<S: StringProtocol>(_ text: S) -> String? {
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return String(validating: output, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Where the user-info part of a URI ends.
enum URISplit {
    /// The `@` that ends `user:password` in `rest` (the URI after `scheme://`), or nil when there is none.
    ///
    /// A password may hold raw `@`, `:`, `/` and `?`, so the split is the last `@` before the first `/` or
    /// `?` that follows the first `@`: `u:p@ss/w?x@host/db` splits before `host`. An `@` only in the path or
    /// query (`host/db?application_name=a@b`) is not a split: user info that holds `/` or `?` must have
    /// its `:` before them, as only a password may hold them.
    static func userInfo(in rest: Substring) -> Substring.Index? {
        guard let firstAt = rest.firstIndex(of: "@") else { return nil }
        let end = rest[firstAt...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        guard let split = rest[..<end].lastIndex(of: "@") else { return nil }
        let userInfo = rest[..<split]
        if let special = userInfo.firstIndex(where: { $0 == "/" || $0 == "?" }) {
            guard userInfo[..<special].contains(":") else { return nil }
        }
        return split
    }
}
