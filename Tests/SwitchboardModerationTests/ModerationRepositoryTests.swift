import SwitchboardDatabase
import SwitchboardModeration
import SwitchboardTestSupport
import XCTest

/// Moderation's rows on both backends: operators, bans, mutes, the MOTD, registered nicknames, the log,
/// and the version counter that tells servers to reload — including after an edit made directly in SQL.
final class ModerationRepositoryTests: XCTestCase {
    private let cheap = PasswordHash.Parameters(logRounds: 10, blockSize: 8, parallelism: 1)

    private func run<T: Sendable>(
        _ db: DatabaseFixture, _ body: @escaping @Sendable (ModerationRepository, any DatabaseConnection) throws(DatabaseError) -> T
    ) async throws -> T {
        let repository = ModerationRepository(dialect: db.pool.url.dialect)
        return try await db.pool.withConnection { connection throws(DatabaseError) in try body(repository, connection) }
    }

    /// Operators: added once (names ignore case), listed, checked by password, removed; the row holds a
    /// hash, never the password.
    func testOperators() async throws {
        try await forEachMigratedDatabase { db in
            let hash = try PasswordHash.make("op-secret", parameters: cheap)
            let now = Timestamp.now()
            let added = try await run(db) { r, c throws(DatabaseError) in
                [try r.addOperator(name: "Alice", passwordHash: hash, at: now, on: c),
                 try r.addOperator(name: "alice", passwordHash: hash, at: now, on: c)]
            }
            XCTAssertEqual(added, [true, false])
            let listed = try await run(db) { r, c throws(DatabaseError) in try r.operators(on: c) }
            XCTAssertEqual(listed.map(\.name), ["Alice"])
            XCTAssertEqual(listed.first?.createdAt.iso8601, now.iso8601)
            let checks = try await run(db) { r, c throws(DatabaseError) in
                [try r.checkOperator(name: "ALICE", password: "op-secret", on: c),
                 try r.checkOperator(name: "alice", password: "wrong", on: c),
                 try r.checkOperator(name: "nobody", password: "op-secret", on: c)]
            }
            XCTAssertEqual(checks, ["Alice", nil, nil])
            let rows = try await db.query("SELECT name_key, name, password_hash FROM operators")
            XCTAssertFalse(rows.flatMap { $0 }.contains { $0.string?.contains("op-secret") == true })
            let removed = try await run(db) { r, c throws(DatabaseError) in
                [try r.removeOperator(name: "ALICE", on: c), try r.removeOperator(name: "alice", on: c)]
            }
            XCTAssertEqual(removed, [true, false])
        }
    }

    /// Bans: set (a second on the same target replaces), read back with expiry, expired ones left out and
    /// deleted, lifted once.
    func testBansRoundTrip() async throws {
        try await forEachMigratedDatabase { db in
            let now = Timestamp.now()
            let hour = Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch + 3_600_000_000)
            let past = Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch - 1_000_000)
            let bans = [
                Ban(target: try BanTarget(parsingAddress: "10.0.0.0/8"), reason: "first", setBy: "op", setAt: now, expiresAt: nil),
                Ban(target: try BanTarget(parsingAddress: "10.0.0.0/8"), reason: "flood", setBy: "op2", setAt: now, expiresAt: hour),
                Ban(target: try BanTarget(parsingAddress: "2001:db8::1"), reason: "", setBy: "op", setAt: now, expiresAt: nil),
                Ban(target: .nickname("mallory"), reason: "old", setBy: "op", setAt: past, expiresAt: past),
            ]
            try await run(db) { r, c throws(DatabaseError) in for ban in bans { try r.setBan(ban, on: c) } }
            let active = try await run(db) { r, c throws(DatabaseError) in try r.activeBans(at: now, on: c) }
            XCTAssertEqual(active.skipped, 0)
            XCTAssertEqual(Set(active.bans), Set([bans[1], bans[2]]), "replaced, and the expired one left out")
            let deleted = try await run(db) { r, c throws(DatabaseError) in try r.deleteExpired(at: now, on: c) }
            XCTAssertEqual(deleted, 1)
            let lifted = try await run(db) { r, c throws(DatabaseError) in
                [try r.removeBan(bans[1].target, on: c), try r.removeBan(bans[1].target, on: c)]
            }
            XCTAssertEqual(lifted, [true, false])
        }
    }

    /// The version changes with every change to bans, mutes, the MOTD and registrations, made through the
    /// repository or directly in SQL; rows edited by hand into something that is not a ban are skipped and
    /// counted, never guessed at.
    func testVersionFollowsEveryChangeAndBadRowsAreSkipped() async throws {
        try await forEachMigratedDatabase { db in
            let dialect = db.pool.url.dialect
            let now = Timestamp.now()
            var last = try await run(db) { r, c throws(DatabaseError) in try r.version(on: c) }
            func bumped(_ what: String, file: StaticString = #filePath, line: UInt = #line) async throws {
                let version = try await run(db) { r, c throws(DatabaseError) in try r.version(on: c) }
                XCTAssertNotEqual(version, last, what, file: file, line: line)
                last = version
            }
            try await run(db) { r, c throws(DatabaseError) in
                try r.setBan(Ban(target: .nickname("bob"), reason: "", setBy: "op", setAt: now, expiresAt: nil), on: c)
            }
            try await bumped("ban")
            try await run(db) { r, c throws(DatabaseError) in
                try r.setMute(Mute(nickname: "Bob", setBy: "op", setAt: now, expiresAt: nil), on: c)
            }
            try await bumped("mute")
            try await run(db) { r, c throws(DatabaseError) in
                try r.setMOTD(MessageOfTheDay(body: "hello", setBy: "op", setAt: now), on: c)
            }
            try await bumped("motd")
            let hash = try PasswordHash.make("pw", parameters: cheap)
            _ = try await run(db) { r, c throws(DatabaseError) in try r.registerNickname("Bob", passwordHash: hash, at: now, on: c) }
            try await bumped("registration")
            _ = try await db.query(
                "INSERT INTO bans (kind, target, reason, set_by, set_at) VALUES ('network', '10.0.0.1/8', 'hand', 'dba', \(placeholder(dialect, 1)))",
                [.text(now.iso8601)])
            try await bumped("a ban inserted by hand")
            _ = try await db.query(
                "INSERT INTO bans (kind, target, reason, set_by, set_at) VALUES ('network', '172.16.0.0/12', 'hand', 'dba', \(placeholder(dialect, 1)))",
                [.text(now.iso8601)])
            try await bumped("a good ban inserted by hand")
            _ = try await db.query("DELETE FROM mutes")
            try await bumped("mutes deleted by hand")
            let snapshot = try await run(db) { r, c throws(DatabaseError) in try r.snapshot(at: now, on: c) }
            XCTAssertEqual(snapshot.version, last)
            XCTAssertEqual(snapshot.skippedRows, 1, "10.0.0.1/8 has host bits: skipped, not widened")
            XCTAssertEqual(Set(snapshot.bans.all.map(\.target.storedText)), ["bob", "172.16.0.0/12"])
            XCTAssertEqual(snapshot.mutes, [:])
            XCTAssertEqual(snapshot.motd?.body, "hello")
            XCTAssertEqual(snapshot.registeredNicknames, ["bob"])
        }
    }

    /// Mutes by nickname (ignoring case), with expiry; the MOTD set, replaced and cleared.
    func testMutesAndMOTD() async throws {
        try await forEachMigratedDatabase { db in
            let now = Timestamp.now()
            let soon = Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch + 60_000_000)
            try await run(db) { r, c throws(DatabaseError) in
                try r.setMute(Mute(nickname: "Bob", setBy: "op", setAt: now, expiresAt: soon), on: c)
                try r.setMute(Mute(nickname: "carol", setBy: "op", setAt: now, expiresAt: nil), on: c)
            }
            let mutes = try await run(db) { r, c throws(DatabaseError) in try r.activeMutes(at: now, on: c) }
            XCTAssertEqual(mutes["bob"]?.expiresAt?.iso8601, soon.iso8601)
            XCTAssertEqual(Set(mutes.keys), ["bob", "carol"])
            let later = try await run(db) { r, c throws(DatabaseError) in try r.activeMutes(at: soon, on: c) }
            XCTAssertEqual(Set(later.keys), ["carol"])
            let unmuted = try await run(db) { r, c throws(DatabaseError) in
                [try r.removeMute(nickname: "BOB", on: c), try r.removeMute(nickname: "bob", on: c)]
            }
            XCTAssertEqual(unmuted, [true, false])
            let motd = try await run(db) { r, c throws(DatabaseError) -> [String?] in
                try r.setMOTD(MessageOfTheDay(body: "one", setBy: "op", setAt: now), on: c)
                try r.setMOTD(MessageOfTheDay(body: "two", setBy: "op", setAt: now), on: c)
                let set = try r.motd(on: c)?.body
                try r.clearMOTD(on: c)
                return [set, try r.motd(on: c)?.body]
            }
            XCTAssertEqual(motd, ["two", nil])
        }
    }

    /// Registered nicknames: once each (ignoring case), checked by password, dropped.
    func testRegisteredNicknames() async throws {
        try await forEachMigratedDatabase { db in
            let hash = try PasswordHash.make("nick-pw", parameters: cheap)
            let result = try await run(db) { r, c throws(DatabaseError) -> [Bool] in
                [try r.registerNickname("Alice", passwordHash: hash, at: .now(), on: c),
                 try r.registerNickname("ALICE", passwordHash: hash, at: .now(), on: c),
                 try r.checkNickname("alice", password: "nick-pw", on: c),
                 try r.checkNickname("alice", password: "nick-PW", on: c),
                 try r.checkNickname("bob", password: "nick-pw", on: c),
                 try r.dropNickname("aLiCe", on: c),
                 try r.dropNickname("alice", on: c)]
            }
            XCTAssertEqual(result, [true, false, true, false, false, true, false])
        }
    }

    /// The log keeps every action, newest first, with its time to the microsecond.
    func testLogNewestFirst() async throws {
        try await forEachMigratedDatabase { db in
            let base = Timestamp.now()
            let entries = (0..<3).map { index in
                ModerationLogEntry(
                    at: Timestamp(microsecondsSinceEpoch: base.microsecondsSinceEpoch + Int64(index)),
                    actor: "op", action: "kick", target: "user\(index)", reason: index == 1 ? "flood" : "")
            }
            let ids = try await run(db) { r, c throws(DatabaseError) in try entries.map { e throws(DatabaseError) in try r.log(e, on: c) } }
            let listed = try await run(db) { r, c throws(DatabaseError) in try r.logEntries(limit: 2, on: c) }
            XCTAssertEqual(listed.map(\.id), [ids[2], ids[1]])
            XCTAssertEqual(listed.map(\.target), ["user2", "user1"])
            XCTAssertEqual(listed[1].reason, "flood")
            XCTAssertEqual(listed[0].at.iso8601, entries[2].at.iso8601)
            let json = try listed[1].jsonLine()
            XCTAssertTrue(json.contains(#""action":"kick""#) && json.contains(#""reason":"flood""#), json)
        }
    }
}
