import NIOCore
import NIOEmbedded
import SwitchboardChat
import XCTest

/// The chat contract (DESIGN.md) as telnet users see it, driven through `EmbeddedChannel`s.
final class ChatSessionTests: XCTestCase {
    /// A new client is welcomed with its name, the connected count and its visitor number.
    func testWelcomeShowsNameCountAndVisitorNumber() throws {
        let chat = ChatTestHarness()
        let alice = try chat.connect()
        XCTAssertEqual(try alice.lines(), [
            "* Welcome, guest1! 1 client connected (you are visitor #1). Type /help for commands."
        ])
        let bob = try chat.connect()
        XCTAssertEqual(try bob.lines(), [
            "* Welcome, guest2! 2 clients connected (you are visitor #2). Type /help for commands."
        ])
        XCTAssertEqual(try alice.lines(), ["* guest2 joined (2 clients connected)"])
    }

    /// A chat line reaches everyone else as `<nick> text`; the sender sees nothing back.
    func testChatLineReachesOthersButNotTheSender() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        let carol = try chat.join([alice, bob])
        try alice.send("hello there\r\n")
        XCTAssertEqual(try alice.lines(), [])
        XCTAssertEqual(try bob.lines(), ["<guest1> hello there"])
        XCTAssertEqual(try carol.lines(), ["<guest1> hello there"])
    }

    /// CRLF, LF and CR NUL all end a line.
    func testEveryTelnetLineEndingWorks() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send([UInt8]("one\r\ntwo\nthree\r".utf8) + [0] + [UInt8]("four\r\n".utf8))
        XCTAssertEqual(try bob.lines(), ["<guest1> one", "<guest1> two", "<guest1> three", "<guest1> four"])
    }

    /// `/nick` renames and tells everyone, including the renamed client.
    func testNickIsAnnouncedToEveryone() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send("/nick alice\r\n")
        XCTAssertEqual(try alice.lines(), ["* guest1 is now known as alice"])
        XCTAssertEqual(try bob.lines(), ["* guest1 is now known as alice"])
        try alice.send("hi\r\n")
        XCTAssertEqual(try bob.lines(), ["<alice> hi"])
    }

    /// Nicknames are unique ignoring case, and must be 1–32 of A-Z a-z 0-9 _ -.
    func testTakenOrInvalidNicknamesAreRefused() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send("/nick Alice\r\n")
        _ = try bob.lines()
        _ = try alice.lines()
        try bob.send("/nick aLiCe\r\n")
        XCTAssertEqual(try bob.lines(), ["! nickname aLiCe is already taken"])
        try bob.send("/nick bad!name\r\n")
        XCTAssertEqual(try bob.lines(), ["! invalid nickname 'bad!name': use 1-32 of A-Z a-z 0-9 _ -"])
        try bob.send("/nick \(String(repeating: "x", count: 33))\r\n")
        XCTAssertEqual(try bob.lines(), ["! nickname too long (max 32 characters)"])
        try alice.send("/nick alice\r\n")  // changing only the case of one's own name is allowed
        XCTAssertEqual(try bob.lines(), ["* Alice is now known as alice"])
        XCTAssertEqual(try alice.lines(), ["* Alice is now known as alice"])
    }

    /// A nickname is free again as soon as its holder leaves.
    func testNicknameOfAClientThatLeftCanBeTaken() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send("/nick alice\r\n/quit\r\n")
        _ = try bob.lines()
        try bob.send("/nick ALICE\r\n")
        XCTAssertEqual(try bob.lines(), ["* guest2 is now known as ALICE"])
    }

    /// `/who` lists everyone, sorted ignoring case; `/count` adds the visit total.
    func testWhoAndCount() throws {
        let chat = ChatTestHarness(totalVisits: 40)
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try bob.send("/nick Bob\r\n")
        try alice.send("/nick zed\r\n")
        _ = try alice.lines()
        _ = try bob.lines()
        try alice.send("/who\r\n/count\r\n")
        XCTAssertEqual(try alice.lines(), ["* 2 connected: Bob, zed", "* 2 clients connected, 42 visits in total"])
    }

    /// `/me` is shown to others as an action.
    func testMeIsAnAction() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send("/me waves\r\n")
        XCTAssertEqual(try bob.lines(), ["* guest1 waves"])
        XCTAssertEqual(try alice.lines(), [])
    }

    /// `/msg` reaches only its target; the sender gets a receipt; unknown targets are an error.
    func testPrivateMessages() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        let carol = try chat.join([alice, bob])
        try alice.send("/msg GUEST2 psst, over here\r\n")
        XCTAssertEqual(try bob.lines(), ["*guest1* psst, over here"])
        XCTAssertEqual(try alice.lines(), ["-> guest2: psst, over here"])
        XCTAssertEqual(try carol.lines(), [])
        try alice.send("/msg nobody hi\r\n")
        XCTAssertEqual(try alice.lines(), ["! no such nick: nobody"])
        XCTAssertTrue(chat.history.messages.isEmpty, "private messages are never stored as history")
    }

    /// `/history` shows public lines (chat and /me), oldest first, then an end marker.
    func testHistoryShowsPublicLinesOldestFirst() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send("first\r\n/me second\r\n/msg guest2 secret\r\nthird\r\n")
        _ = try bob.lines()
        _ = try alice.lines()
        try bob.send("/history 2\r\n")
        let lines = try bob.lines()
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[0].hasSuffix("] * guest1 second"), lines[0])
        XCTAssertTrue(lines[1].hasSuffix("] <guest1> third"), lines[1])
        XCTAssertTrue(lines[0].range(of: #"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\] "#, options: .regularExpression) != nil, lines[0])
        XCTAssertEqual(lines[2], "* end of history")
    }

    /// A reply that waits on the database keeps its place: later replies come after it.
    func testRepliesStayInCommandOrderWhileHistoryIsPending() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        chat.history.holdReads = true
        try bob.send("/history\r\n/count\r\n")
        try alice.send("meanwhile\r\n")
        XCTAssertEqual(try bob.lines(), [], "nothing may overtake the pending /history reply")
        chat.history.releaseReads()
        XCTAssertEqual(try bob.lines(), [
            "* end of history", "* 2 clients connected, 2 visits in total", "<guest1> meanwhile",
        ])
    }

    /// A history read that never answers is reported after the configured wait, and the chat goes on:
    /// later lines are relayed, commands answered, and the next history read works.
    func testStuckHistoryReadIsReportedAndChatContinues() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        chat.history.holdReads = true
        try alice.send("/seen someone\r\n")
        chat.loop.advanceTime(by: .seconds(5))
        XCTAssertEqual(try alice.lines(), ["! history is unavailable right now; try again later"])
        chat.history.holdReads = false
        chat.history.releaseReads()  // the late answer is dropped
        XCTAssertEqual(try alice.lines(), [])

        try alice.send("still here\r\n/count\r\n/seen nobody\r\n")
        XCTAssertEqual(try bob.lines(), ["<guest1> still here"])
        XCTAssertEqual(try alice.lines(), ["* 2 clients connected, 2 visits in total", "! never seen nobody"])
    }

    /// `/seen` says online, last seen (UTC), or never.
    func testSeen() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send("/nick alice\r\n/quit\r\n")
        _ = try bob.lines()
        try bob.send("/seen guest2\r\n/seen ALICE\r\n/seen zed\r\n")
        let lines = try bob.lines()
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines[0], "* guest2 is online now")
        XCTAssertTrue(lines[1].hasPrefix("* alice was last seen "), lines[1])  // the stored spelling
        XCTAssertTrue(lines[1].hasSuffix(" UTC"), lines[1])
        XCTAssertEqual(lines[2], "! never seen zed")
    }

    /// `/quit reason` says `* bye`, closes the connection, shows the others the reason as given, and
    /// records `quit: reason`.
    func testQuitWithReasonIsAnnouncedAndRecorded() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send("/nick alice\r\n/quit gone fishing\r\n")
        XCTAssertEqual(try alice.lines(), ["* guest1 is now known as alice", "* bye"])
        XCTAssertFalse(alice.isActive)
        XCTAssertEqual(try bob.lines(), ["* guest1 is now known as alice", "* alice left (gone fishing) (1 client connected)"])
        let summary = try XCTUnwrap(chat.history.closed.values.first)
        XCTAssertEqual(summary.reason, "quit: gone fishing")
        XCTAssertEqual(summary.nickname, "alice")
        XCTAssertEqual(summary.linesIn, 2)
        XCTAssertEqual(summary.bytesIn, Int64("/nick alice\r\n/quit gone fishing\r\n".utf8.count))
        XCTAssertGreaterThan(summary.bytesOut, 0)
    }

    /// A client that just disconnects is announced as `connection closed`.
    func testDroppedConnectionIsAnnounced() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        _ = alice.channel.close()
        XCTAssertEqual(try bob.lines(), ["* guest1 left (connection closed) (1 client connected)"])
        XCTAssertEqual(chat.history.closed.values.first?.reason, "connection closed")
    }

    /// `/help` lists one line per command; unknown commands say how to get help.
    func testHelpAndUnknownCommands() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        try alice.send("/help\r\n")
        let help = try alice.lines()
        for command in ["/nick", "/who", "/count", "/me", "/msg", "/history", "/seen", "/quit", "/help"] {
            XCTAssertTrue(help.contains { $0.hasPrefix("* \(command) ") }, "missing \(command)")
        }
        try alice.send("/frobnicate now\r\n")
        XCTAssertEqual(try alice.lines(), ["! unknown command /frobnicate (try /help)"])
        try alice.send("/msg onlyanick\r\n")
        XCTAssertEqual(try alice.lines(), ["! usage: /msg NICK TEXT"])
    }

    /// An overlong line is rejected with the limit, dropped, and the connection lives on.
    func testOverlongLineIsRejectedAndConnectionSurvives() throws {
        var configuration = ChatConfiguration()
        configuration.maximumLineLength = 16
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send(String(repeating: "a", count: 16) + "\r\n" + String(repeating: "b", count: 17) + "\r\nok\r\n")
        XCTAssertEqual(try alice.lines(), ["! line too long (max 16 bytes)"])
        XCTAssertEqual(try bob.lines(), ["<guest1> " + String(repeating: "a", count: 16), "<guest1> ok"])
        XCTAssertTrue(alice.isActive)
    }

    /// Escape sequences and control characters never reach another terminal; invalid UTF-8 is replaced.
    func testControlCharactersAndInvalidUTF8AreNeverRelayed() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send([UInt8]("hi \u{1b}[2J\u{1b}]0;owned\u{07}there\u{08}!".utf8) + [0xc3, 0x28, 0x80, 0x41] + [13, 10])
        XCTAssertEqual(try bob.lines(), ["<guest1> hi there!\u{fffd}(\u{fffd}A"])
        XCTAssertEqual(chat.history.messages.last?.body, "hi there!\u{fffd}(\u{fffd}A")
    }

    /// Telnet negotiation is removed before anyone sees the line.
    func testTelnetNegotiationIsNeverShown() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send([255, 251, 1, 255, 250, 24, 0, 65, 255, 240] + [UInt8]("hey\r\n".utf8))
        XCTAssertEqual(try bob.lines(), ["<guest1> hey"])
    }

    /// A batch of lines fans out with one flush per recipient, not one per line.
    func testBroadcastFlushesEachClientOncePerReadBatch() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        let carol = try chat.join([alice, bob])
        let before = (bob.flushes.flushes, carol.flushes.flushes)
        try alice.send((1...10).map { "line \($0)\r\n" }.joined())
        XCTAssertEqual(try bob.lines().count, 10)
        XCTAssertEqual(try carol.lines().count, 10)
        XCTAssertEqual(bob.flushes.flushes - before.0, 1)
        XCTAssertEqual(carol.flushes.flushes - before.1, 1)
    }

    /// Without a visitor number within the wait, the welcome says `#unknown` and the chat goes on.
    func testVisitorNumberUnknownWhenDatabaseIsSlow() throws {
        var configuration = ChatConfiguration()
        configuration.visitorNumberBlock = 0  // no numbers in hand: every welcome waits for its row
        configuration.visitorNumberWait = .seconds(2)
        let chat = ChatTestHarness(configuration: configuration)
        chat.history.holdVisitorNumbers = true
        let alice = try chat.connect()
        XCTAssertEqual(try alice.lines(), [], "the welcome waits for the visitor number")
        chat.loop.advanceTime(by: .seconds(2))
        let welcome = try alice.lines()
        XCTAssertEqual(welcome.count, 1)
        XCTAssertTrue(welcome[0].hasSuffix("(you are visitor #unknown). Type /help for commands."), welcome[0])
        chat.history.releaseVisitorNumbers()  // a late number changes nothing
        XCTAssertEqual(try alice.lines(), [])
        try alice.send("/count\r\n")
        XCTAssertEqual(try alice.lines(), ["* 1 client connected, 1 visit in total"])
    }

    /// Past `--max-clients` a newcomer gets one line, is closed, and the refusal is recorded.
    func testServerFullRefusal() throws {
        var configuration = ChatConfiguration()
        configuration.maximumClients = 1
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let late = try chat.connect()
        XCTAssertEqual(try late.lines(), ["! server full"])
        XCTAssertFalse(late.isActive)
        XCTAssertEqual(try alice.lines(), [], "a refused client is never announced")
        XCTAssertEqual(chat.history.refused.map(\.reason), ["refused: server full"])
    }

    /// Past `--max-per-ip` a newcomer from the same address is refused; others are not.
    func testPerAddressLimit() throws {
        var configuration = ChatConfiguration()
        configuration.maximumClientsPerAddress = 1
        let chat = ChatTestHarness(configuration: configuration)
        _ = try chat.connect(from: "198.51.100.7")
        let second = try chat.connect(from: "198.51.100.7")
        XCTAssertEqual(try second.lines(), ["! too many connections from your address"])
        let other = try chat.connect(from: "198.51.100.8")
        XCTAssertTrue(try other.lines().first?.hasPrefix("* Welcome") ?? false)
        XCTAssertEqual(chat.history.refused.map(\.reason), ["refused: too many connections from your address"])
    }

    /// Lines past the flood burst are dropped, with at most one `! slow down` per second.
    func testFloodControlDropsExcessLinesWithOneNotice() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 1
        configuration.floodBurst = 3
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send((1...10).map { "m\($0)\r\n" }.joined())
        XCTAssertEqual(try bob.lines(), ["<guest1> m1", "<guest1> m2", "<guest1> m3"])
        XCTAssertEqual(try alice.lines(), ["! slow down"])
        XCTAssertTrue(alice.isActive)
    }

    /// Idle clients are told, then closed with the reason `idle timeout`; active ones stay.
    func testIdleClientsAreDisconnected() throws {
        var configuration = ChatConfiguration()
        configuration.idleTimeout = .seconds(60)
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let bob = try chat.join([alice])
        chat.loop.advanceTime(by: .seconds(45))
        try bob.send("still here\r\n")
        _ = try alice.lines()
        chat.loop.advanceTime(by: .seconds(30))
        XCTAssertEqual(try alice.lines(), ["! idle timeout: disconnected"])
        XCTAssertFalse(alice.isActive)
        XCTAssertTrue(bob.isActive)
        XCTAssertEqual(try bob.lines(), ["* guest1 left (idle timeout) (1 client connected)"])
        XCTAssertEqual(chat.history.closed.values.first?.reason, "idle timeout")
    }

    /// Shutdown tells every client, closes them all, and records `server shutdown` without leave spam.
    func testShutdownTellsEveryoneAndRecordsIt() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        let done = chat.hub.shutdown()
        chat.loop.run()
        try done.wait()
        XCTAssertEqual(try alice.lines(), ["* server shutting down"])
        XCTAssertEqual(try bob.lines(), ["* server shutting down"])
        XCTAssertFalse(alice.isActive)
        XCTAssertEqual(Set(chat.history.closed.values.map(\.reason)), ["server shutdown"])
        let late = try chat.connect()
        XCTAssertEqual(try late.lines(), ["! server full"])
    }
}
