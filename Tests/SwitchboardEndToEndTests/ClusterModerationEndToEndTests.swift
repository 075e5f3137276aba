import Foundation
import SwitchboardDatabase
import SwitchboardModeration
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Bans, mutes and the MOTD hold on every server sharing the PostgreSQL database (real processes).
///
/// The issue asks for "within a second"; each server polls `moderation_version` every 500 ms and then reads
/// the snapshot, so a change holds elsewhere within about 0.5 s plus a read. The bound asserted is 3 s:
/// generous for a loaded 2-core machine, still far below anything a person would call "at once" failing.
final class ClusterModerationEndToEndTests: XCTestCase {
    private static let bound: TimeInterval = 3
    private let password = "cluster-op-pw"

    func testBanMuteAndMOTDReachTheOtherServer() throws {
        let postgres = try TestDatabases.requirePostgres()
        defer { postgres.drop() }
        let directory = try makeTemporaryDirectory()
        let a = try ServerProcess.serve(database: postgres.cliURL, in: directory, extraArguments: ["--flood-rate", "0"])
        defer { a.kill() }
        let b = try ServerProcess.serve(database: postgres.cliURL, in: directory, extraArguments: ["--flood-rate", "0"])
        defer { b.kill() }
        let connection = try DatabasePool.connector(for: postgres.url)()
        let hash = try PasswordHash.make(password, parameters: .init(logRounds: 10, blockSize: 8, parallelism: 1))
        XCTAssertTrue(try ModerationRepository(dialect: .postgres).addOperator(name: "root", passwordHash: hash, at: .now(), on: connection))

        let op = try LineClient(port: a.port)
        XCTAssertEqual(op.readLine()?.hasPrefix("* Welcome, "), true)
        op.send("/oper root \(password)\r\n/nick op\r\n")
        op.expect("* you are now an operator (root); /help lists your commands")
        _ = op.readLines(until: { $0.hasSuffix("is now known as op") })
        let bob = try LineClient(port: b.port)
        XCTAssertEqual(bob.readLine()?.hasPrefix("* Welcome, "), true)
        bob.send("/nick bob\r\n")
        _ = bob.readLines(until: { $0.hasSuffix("is now known as bob") })
        let mallory = try LineClient(port: b.port, from: "127.0.0.2")
        XCTAssertEqual(mallory.readLine()?.hasPrefix("* Welcome, "), true)
        mallory.send("/nick mallory\r\n")
        _ = mallory.readLines(until: { $0.hasSuffix("is now known as mallory") })
        _ = op.readLines(until: { $0.hasSuffix("is now known as mallory") })

        // MOTD set on A greets a newcomer on B.
        op.send("/motd set hello from A\r\n")
        op.expect("* message of the day set")
        var greeted = false
        let motdDeadline = Date().addingTimeInterval(Self.bound)
        while !greeted && Date() < motdDeadline {
            let newcomer = try LineClient(port: b.port)
            _ = newcomer.readLine()
            greeted = newcomer.readLine(timeout: 0.5) == "* motd: hello from A"
            newcomer.close()
        }
        XCTAssertTrue(greeted, "a newcomer on B sees the MOTD set on A within \(Self.bound) s")

        // Mute on A (mallory is on B): B swallows her lines once it has read the change.
        op.send("/mute mallory\r\n")
        XCTAssertEqual(op.readLines(until: { $0 == "* muted mallory" }).last, "* muted mallory")  // after the newcomers' notices
        let muteSet = Date()
        var told = false
        while !told && Date().timeIntervalSince(muteSet) < Self.bound {
            mallory.send("probe\r\n/count\r\n")
            let lines = mallory.readLines(until: { $0.hasPrefix("* ") && $0.contains("visits in total") })
            told = lines.contains("! you are muted: your lines reach no one")
        }
        XCTAssertTrue(told, "muted on B within \(Self.bound) s")
        mallory.send("hidden\r\n/count\r\n")
        _ = mallory.readLines(until: { $0.contains("visits in total") })
        bob.send("marker\r\n")
        let seenOnA = op.readLines(until: { $0 == "<bob> marker" })
        XCTAssertEqual(seenOnA.last, "<bob> marker")
        XCTAssertFalse(seenOnA.contains("<mallory> hidden"), "\(seenOnA)")

        // Ban on A by address: mallory, connected to B, is closed; B refuses her at accept.
        op.send("/ban 127.0.0.2 spam\r\n")
        XCTAssertEqual(op.readLines(until: { $0.hasPrefix("* banned ") }).last, "* banned 127.0.0.2 permanently")
        let banSet = Date()
        let closing = mallory.readUntilClosed(timeout: Self.bound + 2)
        let elapsed = Date().timeIntervalSince(banSet)
        XCTAssertEqual(closing.last, "! you are banned (spam, permanent)", "\(closing)")
        XCTAssertLessThan(elapsed, Self.bound, "closed on B \(elapsed) s after the ban on A")
        let again = try LineClient(port: b.port, from: "127.0.0.2")
        XCTAssertEqual(again.readUntilClosed(), ["! you are banned (spam, permanent)"])
        _ = op.readLines(until: { $0.hasPrefix("* mallory left (banned: spam)") })
    }
}
