import NIOCore
@testable import SwitchboardChat
import XCTest

/// ``TickLines``: one encoded copy of each broadcast line per tick, reused while nobody else holds it.
final class TickLinesTests: XCTestCase {
    /// Each line is encoded once with its CRLF, and its range says where.
    func testLinesAreEncodedOnceWithCRLFAtTheirRanges() {
        var tick = TickLines()
        XCTAssertEqual(tick.append("<a> hi"), 0..<8)
        XCTAssertEqual(tick.append("* b joined (2 clients connected)"), 8..<42)
        XCTAssertEqual(String(buffer: tick.buffer), "<a> hi\r\n* b joined (2 clients connected)\r\n")
    }

    /// Once every slice is gone the next tick writes over the same memory: no allocation per tick.
    func testTheNextTickReusesTheBufferWhenNobodyHoldsIt() {
        var tick = TickLines()
        _ = tick.append("<a> hi")
        let before = tick.buffer.withVeryUnsafeBytes { $0.baseAddress }
        let generation = tick.generation
        tick.reset()
        XCTAssertEqual(tick.buffer.readableBytes, 0)
        XCTAssertNotEqual(tick.generation, generation, "ranges of the old tick must not be read from this one")
        XCTAssertEqual(tick.buffer.withVeryUnsafeBytes { $0.baseAddress }, before)
    }

    /// A client that is behind keeps its slice of an old tick intact while later ticks go on.
    func testASliceStillQueuedForASlowClientKeepsItsBytes() {
        var tick = TickLines()
        let range = tick.append("<a> queued for a slow reader")
        let queued = tick.buffer.getSlice(at: range.lowerBound, length: range.count)!
        tick.reset()
        _ = tick.append("<b> a later tick, longer than the first one was")
        XCTAssertEqual(String(buffer: queued), "<a> queued for a slow reader\r\n")
    }

    /// A burst's big buffer is let go at the end of its tick, not kept for every quiet tick after it.
    func testABurstsBigBufferIsNotKept() {
        var tick = TickLines()
        _ = tick.append(String(repeating: "x", count: TickLines.retainedCapacity + 1))
        tick.reset()
        XCTAssertLessThanOrEqual(tick.buffer.capacity, TickLines.retainedCapacity)
    }

    /// A quiet tick after a busy one does not keep the busy tick's buffer: the next starts sized like the
    /// last, so a client's few bytes are never a small part of a big buffer for long.
    func testAQuietTickAfterABusyOneStartsTheNextWithASmallBuffer() {
        var tick = TickLines()
        _ = tick.append(String(repeating: "x", count: 10_000))
        tick.reset()
        _ = tick.append("<a> quiet")
        tick.reset()
        XCTAssertLessThanOrEqual(tick.buffer.capacity, TickLines.reuseFactor * TickLines.minimumCapacity)
    }

    /// A tick with no broadcast changes nothing.
    func testAnEmptyTickKeepsItsGeneration() {
        var tick = TickLines()
        tick.reset()
        XCTAssertEqual(tick.generation, 0)
    }
}
