import Foundation
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase

#if canImport(Glibc)
import Glibc
#endif

extension XCTestCase {
    /// Runs `body` once per backend (``TestDatabases/forEach(file:line:_:)``) with a fresh database URL, as
    /// the CLI takes it, and a working directory.
    func forEachBackend(
        file: StaticString = #filePath, line: UInt = #line, _ body: (_ database: String, _ directory: URL) throws -> Void
    ) throws {
        try TestDatabases.forEach(file: file, line: line) { database in
            try body(database.cliURL, try makeTemporaryDirectory())
        }
    }

    /// A connection of the test's own to `database` (a CLI URL), outside the server: for locking the
    /// database, or reading what the server wrote.
    func directConnection(_ database: String) throws -> any DatabaseConnection {
        let url = try DatabaseURL(parsing: database)
        return try DatabasePool.connector(for: url)()
    }

    /// `switchboard history --json`, read (bounded, every 50 ms) until `condition` holds; fails the test and
    /// returns the last rows read if it never does.
    func waitForHistory(
        _ database: String, in directory: URL, timeout: TimeInterval = 15, file: StaticString = #filePath,
        line: UInt = #line, until condition: ([[String: Any]]) -> Bool
    ) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let result = try runSwitchboard(["history", "--json", "--database", database], in: directory)
            guard result.status == 0 else {
                XCTFail("history --json failed (status \(result.status)): \(result.errors)", file: file, line: line)
                throw HistoryCommandFailed(errors: result.errors)
            }
            let rows = try result.output.split(separator: "\n").map {
                try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            if condition(rows) { return rows }
            if Date() >= deadline {
                XCTFail("history did not reach the expected state within \(timeout) s: \(rows)", file: file, line: line)
                return rows
            }
            usleep(50_000)
        }
    }

    /// Connects a client and returns it with its welcome line read.
    func joinClient(_ server: ServerProcess, file: StaticString = #filePath, line: UInt = #line) throws -> (LineClient, String) {
        let client = try LineClient(port: server.port)
        let welcome = client.readLine() ?? "<nothing>"
        XCTAssertTrue(welcome.hasPrefix("* Welcome, "), welcome, file: file, line: line)
        return (client, welcome)
    }

    /// The guest nickname from a welcome line.
    func nickname(fromWelcome welcome: String) -> String {
        let start = welcome.index(welcome.startIndex, offsetBy: "* Welcome, ".count)
        return String(welcome[start...].prefix { $0 != "!" })
    }

    /// `switchboard history --json` parsed.
    func historyJSON(_ database: String, in directory: URL, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let result = try runSwitchboard(["history", "--json", "--database", database], in: directory)
        XCTAssertEqual(result.status, 0, result.errors, file: file, line: line)
        return try result.output.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }
}

/// `switchboard history` exited non-zero.
struct HistoryCommandFailed: Error {
    let errors: String
}
