import XCTest
@testable import SwitchboardDatabase

/// PostgreSQL URLs are parsed once into libpq keywords, and no spelling of the password survives into
/// the redacted form or a scrubbed message.
final class DatabaseURLTests: XCTestCase {
    /// Nasty passwords as written in a URL, the password libpq must get, and what must never be shown.
    static let nastyPasswords: [(written: String, password: String)] = [
        ("pw%zz", "pw%zz"),  // a % escape libpq itself would reject: kept as written
        ("p/w", "p/w"),
        ("p?w", "p?w"),
        ("p@ss:w", "p@ss:w"),
        ("%41", "A"),  // a valid escape is decoded
        ("s%C3%A9cr%E2%82%ACt", "sécr€t"),
        ("sécr€t-ü", "sécr€t-ü"),
        ("a&b=c#d", "a&b=c#d"),
    ]

    /// Each nasty password in the user-info part parses to exactly the right keywords.
    func testNastyPasswordsParseToExactKeywords() throws {
        for (written, password) in Self.nastyPasswords {
            let uri = "postgres://chat:\(written)@db.example:5433/history?sslmode=disable"
            let parameters = try PostgresConnectionParameters(parsing: uri)
            XCTAssertEqual(
                parameters.keywords.map { "\($0.key)=\($0.value)" },
                ["user=chat", "password=\(password)", "host=db.example", "port=5433", "dbname=history", "sslmode=disable"],
                uri)
            XCTAssertEqual(parameters.redacted, "postgres://chat:***@db.example:5433/history?sslmode=disable")
            XCTAssertEqual(DatabaseURL.redact(uri), parameters.redacted)
            XCTAssertEqual(try DatabaseURL(parsing: uri).redacted, parameters.redacted)
        }
    }

    /// `?password=` and `?PASSWORD=` are the password (libpq keywords are lower case) and are redacted.
    func testPasswordQueryParameterInAnyCase() throws {
        for key in ["password", "PASSWORD", "Password"] {
            for (written, password) in Self.nastyPasswords where !written.contains("&") && !written.contains("#") {
                let uri = "postgresql://chat@db/history?\(key)=\(written)&application_name=sb"
                let parameters = try PostgresConnectionParameters(parsing: uri)
                XCTAssertEqual(parameters.password, password, uri)
                XCTAssertEqual(parameters["application_name"], "sb")
                XCTAssertNil(parameters[key == "password" ? "PASSWORD" : key], "only the lower-case keyword goes to libpq")
                XCTAssertEqual(parameters.redacted, "postgresql://chat@db/history?\(key)=***&application_name=sb")
                XCTAssertEqual(DatabaseURL.redact(uri), parameters.redacted)
            }
        }
    }

    /// Hosts: lists, IPv6 in brackets, socket directories percent-encoded; query values override the path.
    func testHostsPortsAndOverrides() throws {
        let multi = try PostgresConnectionParameters(parsing: "postgres://u@h1:5432,[::1]:5433,h3/db")
        XCTAssertEqual(multi.host, "h1,::1,h3")
        XCTAssertEqual(multi.port, "5432,5433,")
        XCTAssertEqual(multi.hostCount, 3)
        let socket = try PostgresConnectionParameters(parsing: "postgres://%2Fvar%2Frun%2Fpostgresql/db")
        XCTAssertEqual(socket.host, "/var/run/postgresql")
        XCTAssertNil(socket.user)
        let query = try PostgresConnectionParameters(parsing: "postgres:///db?host=/tmp&port=6000&ssl=true")
        XCTAssertEqual(query.host, "/tmp")
        XCTAssertEqual(query.port, "6000")
        XCTAssertEqual(query["sslmode"], "require")
        let appName = try PostgresConnectionParameters(parsing: "postgres://u@h/db?application_name=a@b")
        XCTAssertEqual(appName.host, "h")
        XCTAssertEqual(appName["application_name"], "a@b")
        let noUser = try PostgresConnectionParameters(parsing: "postgres://h/db?application_name=a@b")
        XCTAssertEqual(noUser.host, "h")
        XCTAssertNil(noUser.user)
    }

    /// Bad URLs are rejected with a message that never repeats the password.
    func testBadURLsAreRejectedWithoutThePassword() {
        for uri in ["postgres://u:hunter22@h:port/db", "postgres://u:hunter22@h/db?novalue", "postgres://u:hunter22%00@h/db",
                    "postgres://u:hunter22@[::1/db"] {
            XCTAssertThrowsError(try DatabaseURL(parsing: uri), uri) { error in
                let text = "\(error)"
                XCTAssertEqual((error as? DatabaseError)?.kind, .invalidURL, text)
                XCTAssertFalse(text.contains("hunter22"), text)
            }
        }
    }

    /// Scrubbing removes the password as decoded, as written and percent-encoded, but never garbles a
    /// message over a one-character password.
    func testScrubbingCoversEverySpelling() throws {
        let parameters = try PostgresConnectionParameters(parsing: "postgres://u:s%C3%A9cr%E2%82%ACt@h/db")
        XCTAssertEqual(
            parameters.scrubbing("a sécr€t b s%C3%A9cr%E2%82%ACt c"), "a *** b *** c")
        let short = try PostgresConnectionParameters(parsing: "postgres://u:%41@h/db")
        XCTAssertEqual(short.scrubbing("A role %41"), "A role ***")
    }
}
