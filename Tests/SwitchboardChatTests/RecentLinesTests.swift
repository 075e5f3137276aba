import NIOCore
import SwitchboardDatabase
import SwitchboardHistory
@testable import SwitchboardChat
import XCTest

/// A newcomer's replay (`--history-on-join`) comes from the lines the hub keeps in memory: one database read
/// seeds them, then joins read nothing.
final class RecentLinesTests: XCTestCase {
    private struct ReadFailed: Error {}

    private func line(_ body: String, at microseconds: Int64) -> StoredMessage {
        StoredMessage(nickname: "a", kind: .say, body: body, sentAt: Timestamp(microsecondsSinceEpoch: microseconds))
    }

    // MARK: - The ring

    func testKeepsTheLastCapacityLinesOldestFirst() {
        var lines = RecentLines()
        lines.beginSeeding(at: Timestamp(microsecondsSinceEpoch: 0))
        lines.seed([], startedAt: Timestamp(microsecondsSinceEpoch: 0))
        let total = RecentLines.capacity + 37
        for n in 1...total { lines.append(line("\(n)", at: Int64(n))) }
        XCTAssertEqual(lines.last(3).map(\.body), ["\(total - 2)", "\(total - 1)", "\(total)"])
        XCTAssertEqual(lines.last(10_000).count, RecentLines.capacity)
        XCTAssertEqual(lines.last(RecentLines.capacity).first?.body, "38", "the oldest kept")
        XCTAssertEqual(lines.last(0), [])
    }

    func testSeedGoesBeforeTheLinesRelayedWhileItWasRead() {
        var lines = RecentLines()
        let start = Timestamp(microsecondsSinceEpoch: 100)
        lines.append(line("before any replay", at: 50))
        lines.beginSeeding(at: start)
        lines.append(line("relayed during the read", at: 150))
        // The read saw an old line and (it waits for queued writes) the one relayed since it started.
        lines.seed([line("from the database", at: 10), line("relayed during the read", at: 150)], startedAt: start)
        XCTAssertEqual(lines.state, .seeded)
        XCTAssertEqual(lines.last(10).map(\.body), ["from the database", "relayed during the read"])
    }

    func testAFailedOrStaleSeedLeavesItUnseeded() {
        var lines = RecentLines()
        let first = Timestamp(microsecondsSinceEpoch: 1)
        let second = Timestamp(microsecondsSinceEpoch: 2)
        lines.beginSeeding(at: first)
        lines.seedFailed(startedAt: first)
        XCTAssertEqual(lines.state, .unseeded)
        lines.append(line("ignored while unseeded", at: 3))
        XCTAssertEqual(lines.last(10), [])

        lines.beginSeeding(at: first)
        lines.forget()  // contact with the other servers restored while the read was out
        lines.beginSeeding(at: second)
        lines.seed([line("stale", at: 0)], startedAt: first)
        XCTAssertEqual(lines.state, .seeding(since: second), "an answer to the forgotten read is ignored")
        lines.seed([line("current", at: 0)], startedAt: second)
        XCTAssertEqual(lines.last(10).map(\.body), ["current"])
    }

    // MARK: - The hub

    func testJoinsAfterTheFirstReplayReadNothingFromTheDatabase() throws {
        let chat = ChatTestHarness()
        chat.history.messages = [line("said in an earlier run", at: 1)]
        let alice = try chat.join()
        XCTAssertEqual(chat.history.recentReads, 1, "the first replay seeds the lines")
        try alice.send("first\r\n/me second\r\n")
        _ = try alice.lines()
        let bob = try chat.join([alice])
        let carol = try chat.join([alice, bob])
        XCTAssertEqual(chat.history.recentReads, 1, "later joins replay from memory")
        try carol.send("/history 3\r\n")  // an explicit /history still asks the database
        XCTAssertEqual(chat.history.recentReads, 2)
        let history = try carol.lines()
        XCTAssertEqual(history.count, 4, "\(history)")
        XCTAssertTrue(history[0].hasSuffix("] <a> said in an earlier run"), "\(history)")
        XCTAssertTrue(history[1].hasSuffix("] <guest1> first"), "\(history)")
        XCTAssertTrue(history[2].hasSuffix("] * guest1 second"), "\(history)")
    }

    func testAReplayWaitingForTheSeedGetsOnlyLinesFromBeforeItsJoin() throws {
        let chat = ChatTestHarness()
        chat.history.messages = [line("old", at: 1)]
        chat.history.holdReads = true
        let alice = try chat.connect()
        XCTAssertTrue(try alice.lines().first?.hasPrefix("* Welcome, ") == true)
        let bob = try chat.connect()
        XCTAssertTrue(try bob.lines().first?.hasPrefix("* Welcome, ") == true)
        _ = try alice.lines()
        XCTAssertEqual(chat.history.recentReads, 1, "both wait for the one read")
        try alice.send("live\r\n")
        XCTAssertEqual(try bob.lines(), ["<guest1> live"], "sent live: not replayed again")
        chat.history.releaseReads()
        for client in [alice, bob] {
            let replayed = try client.lines()
            XCTAssertEqual(replayed.count, 2, "\(replayed)")
            XCTAssertTrue(replayed[0].hasSuffix("] <a> old"), "\(replayed)")
            XCTAssertEqual(replayed[1], "* end of history")
        }
        let carol = try chat.join([alice, bob])
        XCTAssertEqual(chat.history.recentReads, 1)
        _ = carol
    }

    func testAFailedSeedReplaysNothingAndTheNextJoinTriesAgain() throws {
        let chat = ChatTestHarness()
        chat.history.messages = [line("old", at: 1)]
        chat.history.failRecentReads = ReadFailed()
        let alice = try chat.connect()
        XCTAssertEqual(try alice.lines().count, 1, "the welcome, no replay")
        chat.history.failRecentReads = nil
        let bob = try chat.connect()
        let lines = try bob.lines()
        XCTAssertEqual(chat.history.recentReads, 2)
        XCTAssertTrue(lines.contains { $0.hasSuffix("] <a> old") }, "\(lines)")
    }
}
