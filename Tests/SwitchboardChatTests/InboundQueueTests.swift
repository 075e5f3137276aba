import SwitchboardProtocol
import XCTest

@testable import SwitchboardChat

/// The session's input queue: bounded in bytes, in order, and honest about what it drops.
final class InboundQueueTests: XCTestCase {
    private func line(_ count: Int) -> LineInput { .line(Array(repeating: UInt8(ascii: "x"), count: count)) }

    func testInputIsKeptInTheOrderItCame() {
        var queue = InboundQueue()
        XCTAssertEqual(queue.append(.line([1])), .queued)
        XCTAssertEqual(queue.append(.areYouThere), .queued)
        XCTAssertEqual(queue.append(.reply([255, 251, 6])), .queued)
        XCTAssertEqual(queue.first, .line([1]))
        queue.removeFirst()
        XCTAssertEqual(queue.first, .areYouThere)
        queue.removeFirst()
        XCTAssertEqual(queue.first, .reply([255, 251, 6]))
        queue.removeFirst()
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.bytes, 0)
    }

    /// An idle connection's queue holds no storage; a burst's is let go once it is worked off, a few lines' kept.
    func testStorageComesWithInputAndABurstsGoesWithIt() {
        var queue = InboundQueue()
        XCTAssertEqual(queue.capacity, 0, "nothing held before the first input")
        XCTAssertEqual(queue.append(line(1)), .queued)
        queue.removeFirst()
        XCTAssertEqual(queue.capacity, InboundQueue.initialCapacity, "a few lines' room is kept")
        for _ in 0..<100 { _ = queue.append(line(1)) }
        XCTAssertGreaterThanOrEqual(queue.capacity, 100)
        for _ in 0..<99 { queue.removeFirst() }
        XCTAssertGreaterThanOrEqual(queue.capacity, 100, "held while input waits")
        queue.removeFirst()
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.capacity, 0, "the burst's room is let go")
        queue.removeFirst()  // on an empty queue: nothing happens
        XCTAssertEqual(queue.bytes, 0)
    }

    func testWhatDoesNotFitIsDroppedWithTheRestOfItsReadAndSaidOnce() {
        var queue = InboundQueue()
        let big = InboundQueue.maximumBytes / 2 - 2  // two of them leave room for one empty line
        XCTAssertEqual(queue.append(line(big)), .queued)
        XCTAssertEqual(queue.append(line(big)), .queued)
        XCTAssertEqual(queue.append(line(10)), .dropped(first: true))
        // A small line after the drop in the same read would jump the queue: it goes too, and is not told again.
        XCTAssertEqual(queue.append(line(0)), .dropped(first: false))
        queue.readComplete()
        XCTAssertEqual(queue.append(line(0)), .queued, "the next read queues again when it fits")
        XCTAssertEqual(queue.append(line(10)), .dropped(first: false), "told once until the queue empties")
    }

    func testAnEmptiedQueueTellsOfTheNextDropAgain() {
        var queue = InboundQueue()
        XCTAssertEqual(queue.append(line(InboundQueue.maximumBytes - 1)), .queued)
        XCTAssertEqual(queue.append(line(1)), .dropped(first: true))
        queue.readComplete()
        queue.removeFirst()
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.append(line(InboundQueue.maximumBytes - 1)), .queued)
        XCTAssertEqual(queue.append(line(1)), .dropped(first: true))
    }

    func testTheBoundHoldsWhateverTheMix() {
        var queue = InboundQueue()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: _ = queue.append(line(Int.random(in: 0..<2048, using: &generator)))
            case 1: _ = queue.append(.areYouThere)
            case 2: queue.readComplete()
            default: if !queue.isEmpty { queue.removeFirst() }
            }
            XCTAssertLessThanOrEqual(queue.bytes, InboundQueue.maximumBytes)
        }
    }
}
