import NIOCore
import NIOEmbedded
@testable import SwitchboardChat
import XCTest
import SwitchboardHistory

/// When what consumes chat lines (history, the other servers) falls behind, the clients who say lines are
/// held back — their input waits, their reads are not passed on — and nothing is dropped; everyone else
/// chats on. Driven through `EmbeddedChannel`s.
final class BackPressureTests: XCTestCase {
    private func lines(_ count: ClosedRange<Int>, _ prefix: String = "line") -> String {
        count.map { "\(prefix) \($0)\r\n" }.joined()
    }

    /// A client that has said its share of lines while history is behind waits, in order, with nothing
    /// dropped; another client chats on meanwhile; when history catches up, the held lines follow.
    func testAFlooderWaitsWhileHistoryIsBehindAndOthersChatOn() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 0
        let chat = ChatTestHarness(configuration: configuration)
        let flooder = try chat.join()
        let witness = try chat.join([flooder])
        let reader = try chat.join([flooder, witness])

        chat.hub.setBehind(.history, true)
        let share = ChatSession.linesPerBehindEpisode
        try flooder.send(lines(1...(share + 10)))
        XCTAssertEqual(try reader.lines(), (1...share).map { "<guest1> line \($0)" }, "its share, then it waits")
        try witness.send("still here\r\n")
        XCTAssertEqual(try reader.lines(), ["<guest2> still here"], "someone else chats on")
        try flooder.send(lines((share + 11)...(share + 12)))
        XCTAssertEqual(try reader.lines(), [], "more input joins the wait")

        chat.hub.setBehind(.history, false)
        XCTAssertEqual(try reader.lines(), ((share + 1)...(share + 12)).map { "<guest1> line \($0)" },
                       "every held line, in order, once history caught up")
        XCTAssertEqual(chat.history.messages.count, share + 13, "every line recorded")
    }

    /// While a client waits, NIO's read requests are held (TCP pushes back on it); once released they are
    /// passed on again.
    func testAWaitingClientsReadsAreHeldUntilRelief() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 0
        let chat = ChatTestHarness(configuration: configuration)
        let counter = ReadCounter()
        let flooder = try chat.connect()
        try flooder.channel.pipeline.syncOperations.addHandler(counter, position: .first)
        _ = try flooder.lines()
        chat.hub.setBehind(.cluster, true)
        try flooder.send(lines(1...(ChatSession.linesPerBehindEpisode + 1)))
        let before = counter.reads
        flooder.channel.read()
        XCTAssertEqual(counter.reads, before, "held while it waits")
        chat.hub.setBehind(.cluster, false)
        chat.loop.run()
        flooder.channel.read()
        XCTAssertGreaterThan(counter.reads, before, "passed on once relieved")
    }

    /// Every source must catch up: history caught up while the cluster is still behind releases no one.
    func testEverySourceMustCatchUp() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 0
        let chat = ChatTestHarness(configuration: configuration)
        let flooder = try chat.join()
        let reader = try chat.join([flooder])
        chat.hub.setBehind(.history, true)
        chat.hub.setBehind(.cluster, true)
        let share = ChatSession.linesPerBehindEpisode
        try flooder.send(lines(1...(share + 1)))
        XCTAssertEqual(try reader.lines().count, share)
        chat.hub.setBehind(.history, false)
        XCTAssertEqual(try reader.lines(), [], "the cluster is still behind")
        chat.hub.setBehind(.cluster, false)
        XCTAssertEqual(try reader.lines(), ["<guest1> line \(share + 1)"])
    }

    /// Commands that say nothing (`/who`, `/count`) do not count against a client's share.
    func testCommandsDoNotUseUpTheShare() throws {
        var configuration = ChatConfiguration()
        configuration.floodRate = 0
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let bob = try chat.join([alice])
        chat.hub.setBehind(.history, true)
        try alice.send(String(repeating: "/count\r\n", count: ChatSession.linesPerBehindEpisode + 5))
        XCTAssertEqual(try alice.lines().count, ChatSession.linesPerBehindEpisode + 5)
        try alice.send("hello\r\n")
        XCTAssertEqual(try bob.lines(), ["<guest1> hello"])
    }

    /// A client chatting within the flood limit that was held back is not told to slow down, nor loses a
    /// line, when the hold ends and what it sent meanwhile arrives at once.
    func testAHeldClientWithinTheFloodLimitLosesNothingWhenReleased() throws {
        let chat = ChatTestHarness()  // default flood control: 10 a second, 20 at once
        let talker = try chat.join()
        let reader = try chat.join([talker])
        chat.hub.setBehind(.history, true)
        let share = ChatSession.linesPerBehindEpisode
        try talker.send(lines(1...share))
        XCTAssertEqual(try reader.lines().count, share)
        // Ten seconds at 4 lines a second, held all along.
        for n in 0..<40 {
            chat.loop.advanceTime(by: .milliseconds(250))
            try talker.send("later \(n)\r\n")
        }
        XCTAssertEqual(try reader.lines(), [])
        chat.hub.setBehind(.history, false)
        XCTAssertEqual(try reader.lines(), (0..<40).map { "<guest1> later \($0)" })
        XCTAssertEqual(try talker.lines(), [], "no '! slow down'")
    }

    /// A client whose lines history could not store is told once, however many were lost; others are not.
    func testClientsWhoseLinesWereNotStoredAreToldOnce() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        chat.hub.historyWriter(couldNotStoreLinesOf: [ConnectionKey(1)])
        chat.hub.historyWriter(couldNotStoreLinesOf: [ConnectionKey(1)])
        XCTAssertEqual(try alice.lines(), ["! the history is not being saved right now"])
        XCTAssertEqual(try bob.lines(), [])
    }
}
