import NIOCore
import NIOEmbedded
@testable import SwitchboardChat
import XCTest

/// Simulates what NIO does when a flush fails on a reset socket: it reads the rest of that socket's input
/// right there (`channelRead` from inside the flush), then closes the channel — all synchronously.
final class ReadAndCloseOnFlush: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var armed = false
    var input: [UInt8] = []
    private(set) var fired = 0

    func flush(context: ChannelHandlerContext) {
        guard armed else { return context.flush() }
        armed = false
        fired += 1
        context.fireChannelRead(NIOAny(context.channel.allocator.buffer(bytes: input)))
        context.close(promise: nil)
    }
}

/// Counts the reads NIO is allowed to make (the session holds them back while input is queued).
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private(set) var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// The hub's rules against hostile load (DESIGN.md, "Design rules learned the hard way"), driven through
/// `EmbeddedChannel`s: no flush or close inside a fan-out, no re-entered session, bounded work per tick,
/// batched join/leave storms, half-closed clients answered in full.
final class HubRobustnessTests: XCTestCase {
    /// A connection that closed leaves nothing behind: its session, context and channel are freed (the
    /// session used to keep its context, which keeps the session — about 1 KB for every connection ever).
    func testAClosedConnectionsSessionIsFreed() throws {
        let chat = ChatTestHarness()
        weak var session: ChatSession?
        weak var channel: EmbeddedChannel?
        try {
            let client = try chat.join()
            session = try client.channel.pipeline.syncOperations.handler(type: ChatSession.self)
            channel = client.channel
            try client.send("/quit\r\n")
            _ = try client.lines()
            chat.loop.run()
            XCTAssertFalse(client.isActive, "the server closed it")
        }()
        chat.loop.run()
        XCTAssertNil(session, "the session of a closed connection is freed")
        XCTAssertNil(channel, "and so is its channel")
    }

    /// Clients whose flush makes NIO read and close them synchronously (a reset socket) cannot re-enter
    /// their own session: with a small send queue a broadcast once flushed recipients from inside the
    /// sender's read, so a recipient's injected input ran `channelRead` inside the sender's own parser
    /// (SIGABRT: overlapping access). Now flushes and closes happen at the end of the tick, the injected
    /// input waits for a later turn, and each leave is one notice.
    func testReadsAndClosesDuringAFlushDoNotReenterAnySession() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 0
        configuration.maximumSendQueueBytes = 1024
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let bob = try chat.join([alice])
        let carol = try chat.join([alice, bob])
        let long = String(repeating: "x", count: 100)
        for client in [alice, bob] {
            let trap = ReadAndCloseOnFlush()
            try client.channel.pipeline.syncOperations.addHandler(trap, position: .first)
            trap.input = Array(String(repeating: "\(long)\r\n", count: 20).utf8)
            trap.armed = true
        }
        try alice.send(String(repeating: "\(long)\r\n", count: 50))
        chat.loop.run()
        XCTAssertFalse(alice.isActive)
        XCTAssertFalse(bob.isActive)
        XCTAssertTrue(carol.isActive)
        let seen = try carol.lines()
        XCTAssertEqual(seen.count, 52, "alice's 50 lines and two leaves")
        XCTAssertEqual(Array(seen.suffix(2).map { $0.components(separatedBy: " (").last! }),
                       ["2 clients connected)", "1 client connected)"])
        XCTAssertEqual(chat.history.messages.count, 50, "input read while closing is not worked off after the close")
        XCTAssertEqual(chat.history.closed.count, 2)
    }

    /// Many recipients closing during one flush round are handled as a list, not by recursion: every one
    /// is recorded once, and the survivor sees every leave.
    func testManyRecipientsClosingInOneFlushAreHandledIteratively() throws {
        var configuration = ChatConfiguration()
        configuration.noticeRate = 0  // name every leave
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        var others: [ChatTestHarness.Client] = []
        var traps: [ReadAndCloseOnFlush] = []
        for _ in 0..<30 {
            let client = try chat.join([alice] + others)
            let trap = ReadAndCloseOnFlush()
            try client.channel.pipeline.syncOperations.addHandler(trap, position: .first)
            traps.append(trap)
            others.append(client)
        }
        for trap in traps { trap.armed = true }
        try alice.send("bye all\r\n")
        chat.loop.run()
        XCTAssertTrue(others.allSatisfy { !$0.isActive })
        XCTAssertEqual(chat.history.closed.count, 30)
        let lines = try alice.lines()
        XCTAssertEqual(lines.count, 30, "\(lines)")
        XCTAssertEqual(lines.map { $0.components(separatedBy: " (").last! }, (1...30).reversed().map {
            $0 == 1 ? "1 client connected)" : "\($0) clients connected)"
        })
    }

    /// A client's input beyond one tick's fan-out budget waits: reads are held back until it is worked off,
    /// nothing is lost, order is kept, and the loop's timers run in between.
    func testWorkPerTickIsBoundedAndTheRestFollowsInOrder() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 0
        configuration.fanOutBytesPerTick = 200
        configuration.fanOutBytesPerRecipient = 0
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let bob = try chat.join([alice])
        let reads = ReadCounter()
        try alice.channel.pipeline.syncOperations.addHandler(reads, position: .first)
        var timerRan = false
        chat.loop.scheduleTask(in: .microseconds(100)) { timerRan = true }
        try alice.send((1...40).map { "line \($0)\r\n" }.joined())
        let readsBefore = reads.reads
        alice.channel.read()
        XCTAssertEqual(reads.reads, readsBefore, "no read while input is queued")
        let first = try bob.lines()
        XCTAssertGreaterThan(first.count, 0)
        XCTAssertLessThan(first.count, 40, "one tick works off only its budget")
        var all = first
        for _ in 0..<100 where all.count < 40 {
            chat.loop.advanceTime(by: .milliseconds(1))
            all += try bob.lines()
        }
        XCTAssertTrue(timerRan)
        XCTAssertEqual(all, (1...40).map { "<guest1> line \($0)" })
        XCTAssertGreaterThan(reads.reads, readsBefore, "the held read is passed on once the queue is empty")
    }

    /// In a big room the budget grows with the room (``ChatConfiguration/fanOutBytesPerRecipient`` a member):
    /// the same 40 lines that a fixed 200-byte budget spreads over several ticks go out in one, as they
    /// would to 20 000 clients, where a fixed budget let one line through per tick (one write per delivery).
    /// It shrinks again as the room empties.
    func testTheBudgetGrowsWithTheRoom() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 0
        configuration.fanOutBytesPerTick = 200
        configuration.fanOutBytesPerRecipient = 1024
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let bob = try chat.join([alice])
        XCTAssertEqual(chat.hub.tick.budget, 2 * 1024)
        try alice.send((1...40).map { "line \($0)\r\n" }.joined())
        XCTAssertEqual(try bob.lines(), (1...40).map { "<guest1> line \($0)" }, "all in the first tick")
        try bob.channel.close().wait()
        chat.loop.run()
        XCTAssertEqual(chat.hub.tick.budget, 1024)
        try alice.channel.close().wait()
        chat.loop.run()
        XCTAssertEqual(chat.hub.tick.budget, 200, "an empty room: the configured budget")
    }

    /// More input in one read than may wait (``ChatSession/maximumBufferedInput``, as telnet's EOF path can
    /// deliver): what fits is worked off in order, the rest is dropped with one clear error line, and the
    /// connection stays; once the queue has emptied, a new overflow is reported again.
    func testTooMuchInputAtOnceIsDroppedWithOneErrorLineAndTheConnectionStays() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 0
        let chat = ChatTestHarness(configuration: configuration)
        let listener = try chat.join()
        let flooder = try chat.join([listener])
        let lines = (0..<600).map { "\($0) " + String(repeating: "x", count: 1000) }  // 600 KB: more than may wait
        try flooder.send(lines.map { $0 + "\r\n" }.joined())
        var heard: [String] = []
        var told: [String] = []
        for _ in 0..<200 where heard.count < 600 {
            chat.loop.advanceTime(by: .milliseconds(1))
            heard += try listener.lines()
            told += try flooder.lines()
        }
        let kept = heard.count
        XCTAssertGreaterThan(kept, 400)
        XCTAssertLessThan(kept, 600)
        XCTAssertEqual(heard, lines.prefix(kept).map { "<guest2> \($0)" }, "what was kept, in order")
        XCTAssertEqual(told, [ChatText.inputDropped(max: ChatSession.maximumBufferedInput)], "one error line")
        XCTAssertTrue(told[0].hasPrefix("! too much input at once"))
        XCTAssertTrue(flooder.isActive)
        try flooder.send("still here\r\n")
        XCTAssertEqual(try listener.lines(), ["<guest2> still here"])
        try flooder.send(lines.map { $0 + "\r\n" }.joined())
        chat.loop.advanceTime(by: .milliseconds(1))
        XCTAssertEqual(try flooder.lines().filter { $0.hasPrefix("! too much input") }.count, 1, "told again")
    }

    /// Under a flood every client gets its turn in order: a client whose read comes first in every tick
    /// cannot take every budget while the others starve (seen with 300 flooders: a third never got a
    /// line through).
    func testParkedSessionsTakeTurnsRoundRobin() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 0
        configuration.fanOutBytesPerTick = 1  // one line per turn
        configuration.fanOutBytesPerRecipient = 0
        let chat = ChatTestHarness(configuration: configuration)
        let watcher = try chat.join()
        let senders = try (0..<3).reduce(into: [ChatTestHarness.Client]()) { list, _ in list.append(try chat.join([watcher] + list)) }
        // s0 floods: a line reaches it in every I/O phase, after the flush renewed the budget and before the
        // parked sessions' resume timer fires, as on a real loop under load. It starts first, with nothing
        // queued, so without turn-taking it would spend every budget while s1 and s2 wait forever.
        var sent = 1
        try senders[0].send("s0 line 1\r\n")
        for (index, sender) in senders.enumerated() where index > 0 {
            try sender.send((1...6).map { "s\(index) line \($0)\r\n" }.joined())
        }
        var seen: [String] = []
        for _ in 1...30 {
            seen += try watcher.lines()  // the tick's flush: the budget is renewed
            sent += 1
            try senders[0].send("s0 line \(sent)\r\n")
            chat.loop.advanceTime(by: TickScheduler.resumeDelay)  // the resume timer, nothing after it
        }
        seen += try watcher.lines()
        var counts = [0, 0, 0]
        for (position, line) in seen.enumerated() {
            let text = line.components(separatedBy: "> ").last!
            let sender = Int(text.dropFirst().prefix(1))!
            counts[sender] += 1
            XCTAssertEqual(text, "s\(sender) line \(counts[sender])", "each sender's lines in order")
            if position == 11 { XCTAssertGreaterThanOrEqual(counts.min()!, 3, "turns are shared: \(seen)") }
        }
        XCTAssertEqual(counts[1], 6, "s1 starved: \(seen)")
        XCTAssertEqual(counts[2], 6, "s2 starved: \(seen)")
    }

    /// Above the notice rate, joins and leaves are one batched line a second with both counts; small rooms
    /// still see every name.
    func testJoinAndLeaveStormsAreBatched() throws {
        var configuration = ChatConfiguration()
        configuration.noticeRate = 3
        let chat = ChatTestHarness(configuration: configuration)
        let watcher = try chat.join()
        var joiners: [ChatTestHarness.Client] = []
        for _ in 0..<10 { joiners.append(try chat.connect()) }
        let named = try watcher.lines()
        XCTAssertEqual(named.count, 2, "the watcher's own join was the window's first notice: \(named)")
        XCTAssertTrue(named.allSatisfy { $0.hasSuffix("joined (\(named.firstIndex(of: $0)! + 2) clients connected)") }, "\(named)")
        chat.loop.advanceTime(by: .seconds(1))
        XCTAssertEqual(try watcher.lines(), ["* 8 joined, 0 left (11 clients connected)"])
        for joiner in joiners { try joiner.channel.close().wait() }
        chat.loop.advanceTime(by: .seconds(1))
        XCTAssertEqual(try watcher.lines(), ["* 0 joined, 10 left (1 client connected)"])
        chat.loop.advanceTime(by: .seconds(2))
        _ = try chat.join([watcher])
        XCTAssertEqual(try watcher.lines(), [], "join(watcher) already read it")
        let late = try chat.connect()
        XCTAssertEqual(try watcher.lines().count, 1)
        _ = late
    }

    /// Every join notice carries the count as of that join, even when several clients get their visitor
    /// numbers at once.
    func testJoinNoticesCarryTheCountAsOfEachJoin() throws {
        var configuration = ChatConfiguration()
        configuration.visitorNumberBlock = 0  // welcomes wait for their rows, which arrive together
        let chat = ChatTestHarness(configuration: configuration)
        let watcher = try chat.join()
        chat.history.holdVisitorNumbers = true
        for _ in 0..<3 { try chat.connect() }
        chat.history.releaseVisitorNumbers()
        XCTAssertEqual(try watcher.lines(), [
            "* guest2 joined (2 clients connected)", "* guest3 joined (3 clients connected)",
            "* guest4 joined (4 clients connected)",
        ])
    }

    /// A client that sends a command and half-closes before its welcome gets the welcome, the reply, and
    /// then the close; the row is recorded.
    func testHalfCloseBeforeTheWelcomeStillGetsEveryReply() throws {
        var configuration = ChatConfiguration()
        configuration.visitorNumberBlock = 0  // the welcome waits for its row
        let chat = ChatTestHarness(configuration: configuration)
        chat.history.holdVisitorNumbers = true
        let client = try chat.connect()
        try client.send("/who\r\n")
        client.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        XCTAssertTrue(client.isActive)
        chat.history.releaseVisitorNumbers()
        let lines = try client.lines()
        XCTAssertEqual(lines.count, 2, "\(lines)")
        XCTAssertTrue(lines[0].hasPrefix("* Welcome, guest1!"))
        XCTAssertEqual(lines[1], "* 1 connected: guest1")
        XCTAssertFalse(client.isActive)
        XCTAssertEqual(chat.history.closed.values.first?.reason, "connection closed")
    }

    /// A half-closed client still gets the replies that wait for the database, then the close.
    func testHalfCloseWaitsForDatabaseReplies() throws {
        let chat = ChatTestHarness()
        let client = try chat.join()
        chat.history.holdReads = true
        try client.send("/history\r\n/seen nobody\r\n/count\r\n")
        client.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        XCTAssertEqual(try client.lines(), [])
        XCTAssertTrue(client.isActive, "replies are still owed")
        chat.history.releaseReads()
        XCTAssertEqual(try client.lines(), [
            "* end of history", "! never seen nobody", "* 1 client connected, 1 visit in total",
        ])
        XCTAssertFalse(client.isActive)
    }

    /// Bytes trickled without a line end do not count as activity: the idle timeout still applies.
    func testTricklingBytesWithoutANewlineDoesNotDefeatTheIdleTimeout() throws {
        var configuration = ChatConfiguration()
        configuration.idleTimeout = .seconds(10)
        let chat = ChatTestHarness(configuration: configuration)
        let client = try chat.join()
        for _ in 0..<14 {  // sweeps run every 2.5 s: the one at 12.5 s finds 12.5 s of silence
            try client.send("x")
            chat.loop.advanceTime(by: .seconds(1))
        }
        XCTAssertEqual(try client.lines(), ["! idle timeout: disconnected"])
        XCTAssertFalse(client.isActive)
    }

    /// `/quit` without a reason: `* bye`, the notice says `quit`.
    func testQuitSaysByeBeforeClosing() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        try alice.send("/quit\r\n")
        XCTAssertEqual(try alice.lines(), ["* bye"])
        XCTAssertFalse(alice.isActive)
        XCTAssertEqual(try bob.lines(), ["* guest1 left (quit) (1 client connected)"])
    }
}
