import NIOCore
@testable import SwitchboardChat
import XCTest

/// Visitor numbers reserved in blocks: a welcome needs no database round trip; the database being slow or
/// down falls back to waiting for the row (and `#unknown`).
final class VisitorNumberTests: XCTestCase {
    /// With a block in hand, a newcomer is welcomed with its number at once, even while the database does
    /// not answer; the next block is asked for when half is left.
    func testWelcomeNeedsNoDatabaseRoundTripWithABlockInHand() throws {
        var configuration = ChatConfiguration()
        configuration.visitorNumberBlock = 4
        let chat = ChatTestHarness(configuration: configuration)
        XCTAssertEqual(chat.history.reservations, [4], "a block is reserved when the hub starts")
        chat.history.holdVisitorNumbers = true  // the database stops answering
        let alice = try chat.connect()
        XCTAssertEqual(try alice.lines().first, "* Welcome, guest1! 1 client connected (you are visitor #1). Type /help for commands.")
        let bob = try chat.connect()
        XCTAssertEqual(try bob.lines().first?.contains("(you are visitor #2)"), true)
        XCTAssertEqual(chat.history.reservations, [4, 4], "half the block used: the next one is asked for")
        XCTAssertEqual(chat.history.opened.values.sorted(), [1, 2], "rows are written under the numbers given")
    }

    /// When the block runs out and the database does not answer, the welcome waits for the row as before and
    /// says `#unknown` after the wait; the chat goes on.
    func testAnEmptyBlockAndASlowDatabaseFallBackToUnknown() throws {
        var configuration = ChatConfiguration()
        configuration.visitorNumberBlock = 2
        configuration.visitorNumberWait = .seconds(2)
        let chat = ChatTestHarness(configuration: configuration)
        chat.history.holdVisitorNumbers = true
        _ = try chat.join()
        let second = try chat.connect()
        _ = try second.lines()
        let third = try chat.connect()
        XCTAssertEqual(try third.lines(), [], "no number in hand: the welcome waits")
        chat.loop.advanceTime(by: .seconds(2))
        XCTAssertEqual(try third.lines().first?.contains("(you are visitor #unknown)"), true)
    }

    /// Refusals use up visitor numbers too (they are rows), from the block.
    func testRefusalsUseNumbersFromTheBlock() throws {
        var configuration = ChatConfiguration()
        configuration.maximumClients = 1
        configuration.visitorNumberBlock = 10
        let chat = ChatTestHarness(configuration: configuration)
        _ = try chat.join()
        let refused = try chat.connect()
        XCTAssertEqual(try refused.lines(), ["! server full"])
        XCTAssertEqual(chat.history.refused.count, 1)
        XCTAssertEqual(chat.history.reservations, [10], "one block covered both")
    }

    /// The allocator as a value: numbers in order across blocks, refills at half, a failed refill waits.
    func testAllocatorHandsOutNumbersInOrderAndRetriesAfterAFailure() {
        var numbers = VisitorNumbers(blockSize: 4)
        let start = NIODeadline.uptimeNanoseconds(0)
        XCTAssertNil(numbers.take())
        XCTAssertTrue(numbers.needsRefill(now: start))
        numbers.refillStarted()
        XCTAssertFalse(numbers.needsRefill(now: start), "one refill at a time")
        numbers.refilled(10..<14)
        XCTAssertEqual(numbers.take(), 10)
        XCTAssertFalse(numbers.needsRefill(now: start))
        XCTAssertEqual(numbers.take(), 11)
        XCTAssertTrue(numbers.needsRefill(now: start), "half left")
        numbers.refillStarted()
        numbers.refillFailed(now: start)
        XCTAssertFalse(numbers.needsRefill(now: start + .milliseconds(500)), "a failed refill waits a second")
        XCTAssertTrue(numbers.needsRefill(now: start + .seconds(1)))
        numbers.refillStarted()
        numbers.refilled(20..<24)
        XCTAssertEqual([numbers.take(), numbers.take(), numbers.take()], [12, 13, 20])
        XCTAssertEqual(VisitorNumbers(blockSize: 0).needsRefill(now: start), false, "0 turns reservation off")
    }
}
