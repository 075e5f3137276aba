import Foundation
import SwitchboardDatabase
import SwitchboardModeration
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Operators and moderation on real sockets and both databases: `/oper`, the commands only operators may
/// use, kick, ban (at once, at accept with `refused: banned`, across a restart), mute, the MOTD, `/whois`,
/// and the moderation log.
final class ModerationEndToEndTests: XCTestCase {
    private let operatorPassword = "op pass with spaces"

    /// Adds operator `root` directly in the database (cheap scrypt parameters: the format is the same).
    private func addOperator(_ database: String) throws {
        let url = try DatabaseURL(parsing: database)
        let connection = try directConnection(database)
        let hash = try PasswordHash.make(operatorPassword, parameters: .init(logRounds: 10, blockSize: 8, parallelism: 1))
        XCTAssertTrue(try ModerationRepository(dialect: url.dialect).addOperator(
            name: "root", passwordHash: hash, at: .now(), on: connection))
    }

    /// The lines `client` reads up to and including the first that starts with `prefix`.
    private func readUntil(_ client: LineClient, _ prefix: String, timeout: TimeInterval = 10) -> [String] {
        client.readLines(until: { $0.hasPrefix(prefix) }, timeout: timeout)
    }

    /// Becomes operator `root` (after a wrong password first).
    private func oper(_ client: LineClient, file: StaticString = #filePath, line: UInt = #line) {
        client.send("/oper root wrong\r\n")
        client.expect("! wrong operator name or password", file: file, line: line)
        client.send("/oper root \(operatorPassword)\r\n")
        client.expect("* you are now an operator (root); /help lists your commands", file: file, line: line)
    }

    func testOperatorCommandsEndToEnd() async throws {
        try await forEachBackend { database, directory in
            let server = try await InProcessServer.start(database: database, for: self)
            try addOperator(database)
            let (alice, _) = try server.join()
            let (bob, _) = try server.join()
            alice.expect("* guest2 joined (2 clients connected)")

            // Not an operator yet: told so, nothing happens; /help lists no operator commands.
            bob.send("/kick guest1\r\n/help\r\n")
            bob.expect("! /kick is for operators (see /oper)")
            let help = readUntil(bob, "* //text")
            XCTAssertFalse(help.contains { $0.contains("/kick") }, "\(help)")
            XCTAssertTrue(help.contains { $0.hasPrefix("* /oper NAME PASSWORD") }, "\(help)")

            oper(alice)
            alice.send("/help\r\n")
            let operatorHelp = readUntil(alice, "* /deop")
            XCTAssertTrue(operatorHelp.contains { $0.hasPrefix("* /kick NICK [REASON]") && $0.hasSuffix("(operators)") }, "\(operatorHelp)")

            // Mute: the muted client is told once; its lines reach no one; its /msg looks sent.
            alice.send("/mute guest2 10m\r\n")
            alice.expect("* muted guest2 for 10m")
            bob.send("hello?\r\n")
            bob.expect("! you are muted: your lines reach no one")
            bob.send("still there\r\n/msg guest1 psst\r\n/count\r\n")
            bob.expect("-> guest1: psst")
            bob.expect("* 2 clients connected, 2 visits in total")  // the muted lines were worked off before this
            alice.send("/count\r\n")
            alice.expect("* 2 clients connected, 2 visits in total")  // nothing from bob came before it
            alice.send("/unmute guest2\r\n")
            alice.expect("* unmuted guest2")
            bob.send("back\r\n")
            alice.expect("<guest2> back")

            // The MOTD after the welcome.
            alice.send("/motd set be kind\r\n")
            alice.expect("* message of the day set")
            let (carol, _) = try server.join()
            carol.expect("* motd: be kind")
            // Then the history on join (guest2's "back" is the one public line said so far).
            let replayed = carol.readLines(until: { $0 == "* end of history" })
            XCTAssertTrue(replayed.first?.hasSuffix("] <guest2> back") == true, "\(replayed)")
            alice.expect("* guest3 joined (3 clients connected)")
            bob.expect("* guest3 joined (3 clients connected)")

            // /whois: the address for operators only.
            bob.send("/whois guest3\r\n")
            let plain = readUntil(bob, "* guest3:")
            XCTAssertTrue(plain.last?.contains("visitor #3, connected since ") == true, "\(plain)")
            XCTAssertFalse(plain.last?.contains("127.0.0.1") == true, "\(plain)")
            alice.send("/whois guest3\r\n")
            let full = readUntil(alice, "* guest3:")
            XCTAssertTrue(full.last?.contains(", from 127.0.0.1:") == true, "\(full)")

            // Kick.
            alice.send("/kick guest3 flooding\r\n")
            alice.expect("* kicked guest3")
            XCTAssertEqual(carol.readUntilClosed(), ["! kicked by root (flooding)"])
            bob.expect("* guest3 left (kicked: flooding) (2 clients connected)")
            alice.expect("* guest3 left (kicked: flooding) (2 clients connected)")

            // Announce, and bad input from an operator.
            alice.send("/announce maintenance at noon\r\n/ban guest2 -1\r\n/ban 10.0.0.0/33\r\n/ban ::/0\r\n/ban guest2 1x\r\n/mute guest2 99999999999d\r\n")
            bob.expect("* announcement from root: maintenance at noon")
            alice.expect("* announcement from root: maintenance at noon")
            alice.expect("! invalid duration '-1': use a number and a unit, like 30m, 2h or 7d")
            alice.expect("! invalid ban target '10.0.0.0/33': the prefix length must be from 0 to 32")
            alice.expect("! refusing to ban ::/0: wider than /32 (that is a whole provider or more)")
            alice.expect("! invalid duration '1x': unknown unit 'x' (use s, m, h, d or w)")
            XCTAssertEqual(alice.readLine()?.hasPrefix("! invalid duration '99999999999d': longer than 10 years"), true)
            alice.send("/ban guest2\r\n")
            alice.expect("! refusing to ban 127.0.0.1: it covers your own address")
            bob.send("/count\r\n")
            bob.expect("* 2 clients connected, 3 visits in total", timeout: 5)

            let rows = try await server.waitForHistory { rows in rows.contains { $0["close_reason"] as? String == "kicked by root: flooding" } }
            XCTAssertTrue(rows.contains { $0["close_reason"] as? String == "kicked by root: flooding" })
            // Entries of actions that store nothing (oper, kick, announce) are written in the background: read
            // the log until all six are there (bounded).
            var log = try runSwitchboard(["moderation", "--json", "--database", database], in: directory)
            var actions: [String] = []
            for _ in 0..<100 {
                log = try runSwitchboard(["moderation", "--json", "--database", database], in: directory)
                XCTAssertEqual(log.status, 0, log.errors)
                actions = log.output.split(separator: "\n").compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                }.map { "\($0["actor"] ?? "") \($0["action"] ?? "") \($0["target"] ?? "")" }
                if actions.count >= 6 { break }
                usleep(100_000)
            }
            XCTAssertEqual(Set(actions), [
                "root oper guest1", "root mute guest2", "root unmute guest2", "root motd set ", "root kick guest3",
                "root announce ",
            ])
            XCTAssertFalse(log.output.contains(operatorPassword))
            XCTAssertFalse(server.log.lines.contains { $0.contains(operatorPassword) || $0.contains("root wrong") },
                           "no password in the log")
            XCTAssertTrue(server.log.lines.contains { $0.contains("oper failed") }, "failed attempts are logged")
            await server.stop()
        }
    }

    /// A ban closes the matching client at once, refuses it at accept (row `refused: banned`), holds across a
    /// restart, and `/unban` lifts it. The banned client connects from 127.0.0.2, the operator from 127.0.0.1.
    func testBansHoldAtOnceAtAcceptAndAcrossARestart() async throws {
        try await forEachBackend { database, _ in
            var server = try await InProcessServer.start(database: database, for: self)
            try addOperator(database)
            let (op, _) = try server.join()
            oper(op)
            let mallory = try LineClient(port: server.port, from: "127.0.0.2")
            XCTAssertEqual(mallory.readLine()?.hasPrefix("* Welcome, guest2!"), true)
            op.expect("* guest2 joined (2 clients connected)")
            op.send("/ban guest2 1h spamming\r\n")
            let banned = readUntil(op, "* banned")
            XCTAssertTrue(banned.last?.hasPrefix("* banned 127.0.0.2 until ") == true, "\(banned)")
            let closing = mallory.readUntilClosed()
            XCTAssertEqual(closing.count, 1, "\(closing)")
            XCTAssertTrue(closing.first?.hasPrefix("! you are banned (spamming, until ") == true, "\(closing)")
            op.expect("* guest2 left (banned: spamming) (1 client connected)")

            let again = try LineClient(port: server.port, from: "127.0.0.2")
            let refused = again.readUntilClosed()
            XCTAssertTrue(refused.first?.hasPrefix("! you are banned (spamming, until ") == true, "\(refused)")
            op.send("/bans\r\n")
            op.expect("* 1 ban:")
            XCTAssertTrue(op.readLine()?.hasPrefix("* 127.0.0.2 by root until ") == true)
            _ = try await server.waitForHistory { rows in rows.contains { $0["close_reason"] as? String == "refused: banned" } }

            // Across a restart.
            op.close()
            await server.stop()
            server = try await InProcessServer.start(database: database, for: self)
            let afterRestart = try LineClient(port: server.port, from: "127.0.0.2")
            XCTAssertTrue(afterRestart.readUntilClosed().first?.hasPrefix("! you are banned (spamming") == true)
            let (op2, _) = try server.join()
            oper(op2)
            op2.send("/unban 127.0.0.2\r\n/unban 127.0.0.2\r\n")
            op2.expect("* unbanned 127.0.0.2")
            op2.expect("! no ban on 127.0.0.2")
            let welcomeBack = try LineClient(port: server.port, from: "127.0.0.2")
            XCTAssertEqual(welcomeBack.readLine()?.hasPrefix("* Welcome, "), true)
            await server.stop()
        }
    }

    /// A ban row written directly in SQL (not by Switchboard) holds within the poll: the trigger bumps
    /// `moderation_version`, the server re-reads, closes the matching client and refuses it at accept; a
    /// malformed row is skipped with a warning (nothing guessed, nobody banned by it); deleting the row lifts
    /// the ban.
    func testABanEditedDirectlyInTheDatabaseHolds() async throws {
        try await forEachBackend { database, _ in
            let server = try await InProcessServer.start(database: database, for: self)
            let (witness, _) = try server.join()
            let mallory = try LineClient(port: server.port, from: "127.0.0.2")
            XCTAssertEqual(mallory.readLine()?.hasPrefix("* Welcome, "), true)
            witness.expect("* guest2 joined (2 clients connected)")
            let sql = try directConnection(database)
            try sql.executeScript("""
                INSERT INTO bans (kind, target, reason, set_by, set_at, expires_at)
                VALUES ('network', '10.0.0.0/33', 'malformed', 'dba', '\(Timestamp.now())', NULL);
                INSERT INTO bans (kind, target, reason, set_by, set_at, expires_at)
                VALUES ('network', '127.0.0.2/32', 'by hand', 'dba', '\(Timestamp.now())', NULL);
                """)
            XCTAssertEqual(mallory.readUntilClosed(timeout: 10), ["! you are banned (by hand, permanent)"])
            witness.expect("* guest2 left (banned: by hand) (1 client connected)")
            try server.waitForLog(containing: "ban rows not written by switchboard were skipped")
            let refused = try LineClient(port: server.port, from: "127.0.0.2")
            XCTAssertEqual(refused.readUntilClosed(), ["! you are banned (by hand, permanent)"])
            witness.send("/count\r\n")
            XCTAssertTrue(witness.readLine()?.hasPrefix("* 1 client connected") == true, "the witness was not banned")

            try sql.executeScript("DELETE FROM bans WHERE set_by = 'dba'")
            var welcomed = false
            let deadline = Date().addingTimeInterval(10)
            while !welcomed && Date() < deadline {  // each try is refused or welcomed: no sleeping
                let again = try LineClient(port: server.port, from: "127.0.0.2")
                welcomed = again.readLine()?.hasPrefix("* Welcome, ") == true
                again.close()
            }
            XCTAssertTrue(welcomed, "deleting the row lifted the ban")
            await server.stop()
        }
    }

    /// `--admin unix:PATH`: the socket file is 0600, every peer there is an operator acting as `admin` from
    /// its welcome on (no /oper), and its actions are recorded under that name.
    func testAdminConsolePeersAreOperators() async throws {
        try await forEachBackend { database, directory in
            let path = directory.appendingPathComponent("admin.sock").path
            let server = try await InProcessServer.start(database: database, for: self) {
                $0.adminEndpoints = [.unix(path: path, mode: nil, backlog: Endpoint.defaultBacklog)]
            }
            var info = stat()
            XCTAssertEqual(stat(path, &info), 0)
            XCTAssertEqual(info.st_mode & 0o777, 0o600, "the admin socket is the operator's gate: owner only")
            let (user, _) = try server.join()
            let admin = try LineClient(unixPath: path)
            XCTAssertEqual(admin.readLine()?.hasPrefix("* Welcome, guest2!"), true)
            user.expect("* guest2 joined (2 clients connected)")
            admin.send("/announce nightly restart in 5 minutes\r\n/kick guest1 cron\r\n")
            XCTAssertEqual(user.readUntilClosed(), [
                "* announcement from admin: nightly restart in 5 minutes", "! kicked by admin (cron)",
            ])
            admin.expect("* announcement from admin: nightly restart in 5 minutes")
            admin.expect("* kicked guest1")
            admin.send("/quit\r\n")
            _ = admin.readUntilClosed()
            _ = try await server.waitForHistory { rows in rows.contains { $0["close_reason"] as? String == "kicked by admin: cron" } }
            await server.stop()
        }
    }
}
