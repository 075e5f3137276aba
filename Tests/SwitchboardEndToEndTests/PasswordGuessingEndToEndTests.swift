import Foundation
import SwitchboardDatabase
import SwitchboardModeration
import SwitchboardTestSupport
import XCTest

/// Guessing passwords on real sockets and both databases: a thousand `/oper` guesses and a thousand
/// `/identify` guesses (as `/nick NAME PASSWORD`), each spread over 40 connections from one address and sent
/// all at once, reach the password check 10 times each (the per-address limit: checks in flight count, so
/// sending them together gains nothing); the right password from that address is throttled too, from another
/// it works. No password used — right or guessed — appears in the server's log or any row of the database.
final class PasswordGuessingEndToEndTests: XCTestCase {
    private let operatorPassword = "op-Secret-e2e 1"
    private let nicknamePassword = "nick-Secret-e2e 2"
    private static let connections = 40
    private static let guessesEach = 25

    /// Sends every guess on `connections` clients from `address` before reading any answer; returns the
    /// answers (one line per guess).
    private func guess(
        port: Int, from address: String, _ command: (_ connection: Int, _ guess: Int) -> String
    ) throws -> [String] {
        var clients: [LineClient] = []
        for _ in 0..<Self.connections {
            let client = try LineClient(port: port, from: address)
            XCTAssertEqual(client.readLine()?.hasPrefix("* Welcome, "), true)
            clients.append(client)
        }
        for (connection, client) in clients.enumerated() {
            client.send((0..<Self.guessesEach).map { command(connection, $0) + "\r\n" }.joined())
        }
        var answers: [String] = []
        for client in clients {
            var mine: [String] = []
            while mine.count < Self.guessesEach, let line = client.readLine() {
                if line.hasPrefix("! ") { mine.append(line) }  // (others' join notices come too)
            }
            answers += mine
            client.close()
        }
        return answers
    }

    func testThousandsOfGuessesOverManyConnectionsReachTheCheckTenTimes() async throws {
        try await forEachBackend { database, directory in
            // The accounts go in before the server starts (cheap scrypt parameters: the format is the same; the
            // server's own /register uses the default, slow ones, which this test is not about).
            let migrate = try runSwitchboard(["migrate", "--database", database], in: directory)
            XCTAssertEqual(migrate.status, 0, migrate.errors)
            let url = try DatabaseURL(parsing: database)
            let cheap = PasswordHash.Parameters(logRounds: 10, blockSize: 8, parallelism: 1)
            let repository = ModerationRepository(dialect: url.dialect)
            let connection = try directConnection(database)
            XCTAssertTrue(try repository.addOperator(
                name: "root", passwordHash: PasswordHash.make(operatorPassword, parameters: cheap), at: .now(), on: connection))
            XCTAssertTrue(try repository.registerNickname(
                "alice", passwordHash: PasswordHash.make(nicknamePassword, parameters: cheap), at: .now(), on: connection))
            let server = try await InProcessServer.start(database: database, for: self) {
                $0.chat.floodRate = 0
                $0.chat.noticeRate = 1  // 80 joins: batched, not 80 notices to everyone
            }
            let (owner, _) = try server.join()
            owner.send("/nick alice\r\n")
            _ = owner.readLines(until: { $0.hasPrefix("! alice is registered: /identify") })

            let total = Self.connections * Self.guessesEach
            let operAnswers = try guess(port: server.port, from: "127.0.0.3") { "/oper root guess-\($0)-\($1)" }
            XCTAssertEqual(operAnswers.count, total)
            XCTAssertEqual(operAnswers.filter { $0 == "! wrong operator name or password" }.count, 10,
                           "10 checks per address in 10 minutes, however many connections")
            XCTAssertEqual(operAnswers.filter { $0.hasPrefix("! too many wrong passwords: try again in ") }.count, total - 10)

            let identifyAnswers = try guess(port: server.port, from: "127.0.0.4") { "/nick alice guess-\($0)-\($1)" }
            XCTAssertEqual(identifyAnswers.count, total)
            XCTAssertEqual(identifyAnswers.filter { $0 == "! wrong password for alice" }.count, 10,
                           "\(Set(identifyAnswers.filter { !$0.hasPrefix("! too many wrong passwords: try again in ") }))")
            XCTAssertEqual(identifyAnswers.filter { $0.hasPrefix("! too many wrong passwords: try again in ") }.count, total - 10)

            // The right password from a throttled address is not even checked; from another address it works.
            let late = try LineClient(port: server.port, from: "127.0.0.3")
            _ = late.readLine()
            late.send("/oper root \(operatorPassword)\r\n")
            XCTAssertEqual(late.readLine()?.hasPrefix("! too many wrong passwords: try again in "), true)
            owner.send("/oper root \(operatorPassword)\r\n/identify \(nicknamePassword)\r\n")
            XCTAssertEqual(owner.readLines(until: { $0.hasPrefix("* you are now an operator") }).last,
                           "* you are now an operator (root); /help lists your commands")
            // The guessers' connections are still leaving: a batched "* N joined, M left" line may come first.
            XCTAssertEqual(owner.readLines(until: { $0.hasPrefix("* you are identified") }).last,
                           "* you are identified as alice")

            // Every attempt logged at notice: 10 checked and failed of each, the rest throttled.
            let log = server.log.lines
            XCTAssertEqual(log.filter { $0.contains("oper failed") }.count, 10)
            XCTAssertEqual(log.filter { $0.contains("identify failed") }.count, 10)
            XCTAssertGreaterThanOrEqual(log.filter { $0.contains("oper throttled") }.count, total - 10)
            await server.stop()

            // No password, right or guessed, in the log or in any row of any table.
            let secrets = [operatorPassword, nicknamePassword, "guess-"]
            for secret in secrets {
                XCTAssertFalse(server.log.text.contains(secret), "the log contains '\(secret)'")
            }
            let dump = try Self.everyRow(of: directConnection(database), dialect: url.dialect)
            XCTAssertTrue(dump.contains("alice"), "the dump reads the rows")
            for secret in secrets {
                XCTAssertFalse(dump.contains(secret), "a row contains '\(secret)'")
            }
            let moderation = try runSwitchboard(["moderation", "--json", "--database", database], in: directory)
            XCTAssertEqual(moderation.status, 0, moderation.errors)
            XCTAssertFalse(secrets.contains { moderation.output.contains($0) || moderation.errors.contains($0) })
        }
    }

    /// Every value of every row of every table (but the migration records), as text.
    static func everyRow(of connection: any DatabaseConnection, dialect: SQLDialect) throws -> String {
        let tables = try connection.query(
            dialect == .postgres
                ? "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                : "SELECT name FROM sqlite_master WHERE type = 'table'", []
        ).compactMap { $0.first?.string }
        var text = ""
        for table in tables where table != "schema_migrations" {
            for row in try connection.query("SELECT * FROM \(table)", []) {
                text += row.map { $0.string ?? "NULL" }.joined(separator: "|") + "\n"
            }
        }
        return text
    }
}
