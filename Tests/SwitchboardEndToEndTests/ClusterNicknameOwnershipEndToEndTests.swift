import Foundation
import NIOCore
import SwitchboardChat
import SwitchboardDatabase
import SwitchboardTestSupport
import XCTest

/// Owned nicknames across two servers on one PostgreSQL database (cluster mode, both in this process on real
/// sockets): a name registered on A is owned on B — an unidentified client taking it on B is told and, after
/// the grace, renamed to its guest name (A's clients see the rename too) — and its owner identifies on B.
///
/// The grace is `--identify-grace` (60 s by default), 8 s here: long enough for the owner's password check on
/// A (the server's own scrypt parameters, in a debug build, on a loaded machine) to finish inside it. Registrations reach B through its moderation
/// poll (every 500 ms), so the impostor retries the name until B has read the registration (bounded).
final class ClusterNicknameOwnershipEndToEndTests: XCTestCase {
    private static let grace: TimeAmount = .seconds(8)

    func testANameRegisteredOnOneServerIsOwnedOnTheOther() async throws {
        let postgres = try TestDatabases.requirePostgres()
        defer { postgres.drop() }
        func configure(_ configuration: inout ServerConfiguration) {
            configuration.chat.identifyGrace = Self.grace
            configuration.chat.floodRate = 0
            configuration.chat.noticeRate = 0
        }
        let a = try await InProcessServer.start(database: postgres.cliURL, for: self) { configure(&$0) }
        let b = try await InProcessServer.start(database: postgres.cliURL, for: self) { configure(&$0) }

        // Registered on A; the owner leaves (its claim on the name goes with it).
        let (owner, _) = try a.join()
        owner.send("/nick Alice\r\n/register correct horse\r\n")
        _ = owner.readLines(until: { $0.hasSuffix("is now known as Alice") })
        owner.expect("* Alice is registered to you: /identify PASSWORD (or /nick Alice PASSWORD) claims it from now on")
        owner.send("/quit\r\n")
        _ = owner.readUntilClosed()
        let (watcherOnA, _) = try a.join()

        // On B, an impostor takes it: told to identify within the grace (once B has read the registration).
        let (impostor, _) = try b.join()
        var warned: String?
        var takenAt = Date()
        let deadline = Date().addingTimeInterval(10)
        while warned == nil, Date() < deadline {
            impostor.send("/nick alice\r\n/count\r\n")
            let lines = impostor.readLines(until: { $0.contains("visits in total") })
            if lines.contains(where: { $0.hasSuffix("is now known as alice") }) { takenAt = Date() }
            warned = lines.first { $0.hasPrefix("! alice is registered") }
            if warned == nil {
                // B had not read the registration yet: give the name back and try again (the release of the
                // claim is asynchronous, so a retry may be told the name is taken for a moment).
                impostor.send("/nick probe\r\n/count\r\n")
                _ = impostor.readLines(until: { $0.contains("visits in total") })
            }
        }
        XCTAssertEqual(warned, "! alice is registered: /identify PASSWORD within 8 s, or you will be renamed")

        // The owner, on A meanwhile: identified, but the name cannot be taken from a holder on another server
        // (that server renames it when its grace runs out).
        let (claimant, _) = try a.join()
        claimant.send("/nick alice correct horse\r\n")
        // (Notices of B's renames may still be arriving on A: read past them.)
        let claimed = claimant.readLines(until: { $0 == "* you are identified as alice" })
        XCTAssertEqual(claimed.last, "* you are identified as alice", "\(claimed)")
        // A notice that arrived while the password was checked comes before the refusal that followed it.
        let refused = claimant.readLines(until: { $0.hasPrefix("! ") })
        XCTAssertEqual(refused.last, "! nickname alice is already taken", "\(refused)")
        claimant.send("/quit\r\n")
        _ = claimant.readUntilClosed()

        // After the grace (not before): renamed to its guest name; A's clients see the rename.
        let renamed = impostor.readLines(until: { $0.contains("is now known as guest") }, timeout: 20)
        let waited = Date().timeIntervalSince(takenAt)
        XCTAssertTrue(renamed.contains { $0.hasPrefix("! alice is registered and you did not identify: you are now guest") }, "\(renamed)")
        XCTAssertGreaterThanOrEqual(waited, 7.9, "renamed \(waited) s after taking the name; the grace is 8 s")
        let seenOnA = watcherOnA.readLines(until: { $0.hasPrefix("* alice is now known as guest") }, timeout: 20)
        XCTAssertTrue(seenOnA.last?.hasPrefix("* alice is now known as guest") == true, "\(seenOnA)")

        // The owner, now on B: a wrong password is refused; /nick NAME PASSWORD identifies and takes it.
        let (ownerOnB, _) = try b.join()
        ownerOnB.send("/nick alice wrong\r\n")
        ownerOnB.expect("! wrong password for alice")
        ownerOnB.send("/nick ALICE correct horse\r\n")
        ownerOnB.expect("* you are identified as ALICE")
        _ = ownerOnB.readLines(until: { $0.hasSuffix("is now known as ALICE") })
        ownerOnB.send("/whois alice\r\n/who\r\n")
        XCTAssertTrue(ownerOnB.readLines(until: { $0.hasPrefix("* ALICE:") }).last?.contains(", identified") == true)
        let who = ownerOnB.readLines(until: { $0.hasPrefix("* 3 connected:") }).last ?? ""
        XCTAssertTrue(who.contains("ALICE (identified)"), who)
        _ = watcherOnA.readLines(until: { $0.hasSuffix("is now known as ALICE") })

        // /identify after a plain /nick works on B as well (a second owner's connection, after the first left).
        ownerOnB.send("/quit\r\n")
        _ = ownerOnB.readUntilClosed()
        let (again, _) = try b.join()
        var told: [String] = []
        let retryDeadline = Date().addingTimeInterval(10)
        repeat {
            again.send("/nick alice\r\n")
            told = again.readLines(until: { $0.hasSuffix("is now known as alice") || $0 == "! nickname alice is already taken" })
        } while told.last == "! nickname alice is already taken" && Date() < retryDeadline  // the release is asynchronous
        again.expect("! alice is registered: /identify PASSWORD within 8 s, or you will be renamed")
        again.send("/identify correct horse\r\n")
        again.expect("* you are identified as alice")
        await b.stop()
        await a.stop()
    }
}
