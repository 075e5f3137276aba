import Foundation
import SwitchboardDatabase
import SwitchboardTestSupport
import XCTest

/// `switchboard operator add|list|remove` and `switchboard moderation` on both databases, through the
/// real binary: the password comes from stdin, is stored only as a hash, and appears in no output.
final class OperatorCommandEndToEndTests: XCTestCase {
    private let password = "pa55-word-e2e"

    func testOperatorLifecycleAndModerationLog() throws {
        try TestDatabases.forEach { database in
            let directory = try makeTemporaryDirectory()
            let db = ["--database", database.cliURL]
            var outputs: [String] = []
            func run(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String, errors: String) {
                let result = try runSwitchboard(arguments + db, in: directory, input: input)
                outputs += [result.output, result.errors]
                return (result.status, result.output, result.errors)
            }

            let add = try run(["operator", "add", "Alice"], input: password + "\n")
            XCTAssertEqual(add.status, 0, add.errors)
            XCTAssertEqual(add.output, "added operator Alice\n")
            let again = try run(["operator", "add", "alice"], input: "other\n")
            XCTAssertEqual(again.status, 1)
            XCTAssertTrue(again.errors.contains("operator alice exists"), again.errors)
            let list = try run(["operator", "list"])
            XCTAssertEqual(list.status, 0, list.errors)
            XCTAssertTrue(list.output.hasPrefix("Alice  added "), list.output)

            let stored = try DatabasePool.connector(for: database.url)()
                .query("SELECT name_key, name, password_hash FROM operators", [])
            XCTAssertEqual(stored.count, 1)
            XCTAssertTrue(stored[0][2].string?.hasPrefix("scrypt$15$8$1$") == true)
            XCTAssertFalse(stored.flatMap { $0 }.contains { $0.string?.contains(password) == true })

            let remove = try run(["operator", "remove", "ALICE"])
            XCTAssertEqual(remove.status, 0, remove.errors)
            let missing = try run(["operator", "remove", "alice"])
            XCTAssertEqual(missing.status, 1)
            XCTAssertTrue(missing.errors.contains("no operator named alice"), missing.errors)
            XCTAssertEqual(try run(["operator", "list"]).output, "no operators (add one with: switchboard operator add NAME)\n")

            let log = try run(["moderation", "--json"])
            XCTAssertEqual(log.status, 0, log.errors)
            let lines = try log.output.split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
            }
            XCTAssertEqual(lines.map { $0["action"] as? String }, ["operator remove", "operator add"])
            XCTAssertEqual(lines.map { $0["target"] as? String }, ["ALICE", "Alice"])
            XCTAssertEqual(lines.map { $0["actor"] as? String }, ["cli", "cli"])
            let table = try run(["moderation"])
            XCTAssertTrue(table.output.contains("UTC  cli  operator add  Alice"), table.output)
            XCTAssertFalse(outputs.contains { $0.contains(password) }, "no output shows the password")
        }
    }

    /// No password (stdin empty), an empty one, and a name that is not a nickname are refused; nothing is
    /// added.
    func testBadInputIsRefused() throws {
        try TestDatabases.forEach { database in
            let directory = try makeTemporaryDirectory()
            let db = ["--database", database.cliURL]
            XCTAssertEqual(try runSwitchboard(["migrate"] + db, in: directory).status, 0)
            let none = try runSwitchboard(["operator", "add", "bob"] + db, in: directory)
            XCTAssertEqual(none.status, 1)
            XCTAssertTrue(none.errors.contains("no password on stdin"), none.errors)
            let empty = try runSwitchboard(["operator", "add", "bob"] + db, in: directory, input: "\n")
            XCTAssertEqual(empty.status, 1)
            XCTAssertTrue(empty.errors.contains("the password is empty"), empty.errors)
            let badName = try runSwitchboard(["operator", "add", "b\u{1b}[2Jb"] + db, in: directory, input: "pw\n")
            XCTAssertNotEqual(badName.status, 0)
            XCTAssertTrue(badName.errors.contains("invalid nickname"), badName.errors)
            let flag = try runSwitchboard(["operator", "add", "bob", "--password", "x"] + db, in: directory, input: "pw\n")
            XCTAssertNotEqual(flag.status, 0, "there is no password flag")
            let list = try runSwitchboard(["operator", "list"] + db, in: directory)
            XCTAssertTrue(list.output.hasPrefix("no operators"), list.output + list.errors)
        }
    }
}
