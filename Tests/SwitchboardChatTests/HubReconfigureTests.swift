import NIOCore
import NIOEmbedded
import SwitchboardChat
import XCTest

/// `ChatHub.reconfigure(_:)` (SIGHUP's live settings): new limits and rates apply from the next arrival,
/// line and sweep; no one already here is closed for being over a lowered limit.
final class HubReconfigureTests: XCTestCase {
    /// A lowered `--max-clients` refuses the next arrival and closes no one; raised, it lets them in again.
    func testALoweredClientLimitRefusesNewcomersAndKeepsEveryoneHere() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        let bob = try chat.join([alice])
        var configuration = chat.hub.configuration
        configuration.maximumClients = 1
        chat.hub.reconfigure(configuration)
        let carol = try chat.connect()
        XCTAssertEqual(try carol.lines(), ["! server full"])
        XCTAssertTrue(alice.isActive)
        XCTAssertTrue(bob.isActive)
        configuration.maximumClients = 3
        chat.hub.reconfigure(configuration)
        XCTAssertEqual(try chat.connect().lines().first?.hasPrefix("* Welcome"), true)
    }

    /// An idle timeout switched on while running starts the sweep: a silent client is disconnected.
    func testAnIdleTimeoutSwitchedOnStartsTheSweep() throws {
        let chat = ChatTestHarness()
        let alice = try chat.join()
        var configuration = chat.hub.configuration
        configuration.idleTimeout = .seconds(2)
        chat.hub.reconfigure(configuration)
        chat.loop.advanceTime(by: .seconds(3))
        XCTAssertEqual(try alice.lines(), ["! idle timeout: disconnected"])
        XCTAssertFalse(alice.isActive)
    }

    /// Flood control switched on applies to the next line; a session keeps the line limit it started with,
    /// and a newcomer gets the new one.
    func testFloodControlAppliesAtOnceAndTheLineLimitToNewcomers() throws {
        var initial = ChatConfiguration()
        initial.floodRate = 0
        let chat = ChatTestHarness(configuration: initial)
        let alice = try chat.join()
        let bob = try chat.join([alice])
        var configuration = chat.hub.configuration
        configuration.floodRate = 1
        configuration.floodBurst = 2
        configuration.maximumLineLength = 16
        chat.hub.reconfigure(configuration)
        try alice.send("one\r\ntwo\r\nthree\r\n")
        XCTAssertEqual(try bob.lines(), ["<guest1> one", "<guest1> two"])
        XCTAssertEqual(try alice.lines(), ["! slow down"])
        try bob.send(String(repeating: "x", count: 100) + "\r\n")
        XCTAssertEqual(try alice.lines(), ["<guest2> " + String(repeating: "x", count: 100)])
        let carol = try chat.join([alice, bob])
        try carol.send(String(repeating: "y", count: 17) + "\r\n")
        XCTAssertEqual(try carol.lines(), ["! line too long (max 16 bytes)"])
    }
}
