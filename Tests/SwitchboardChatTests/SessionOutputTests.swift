import NIOCore
@testable import SwitchboardChat
import XCTest

/// ``SessionOutput`` as a pure value: ordering, reply slots, flush scheduling, counters, and broadcast lines
/// shared through ``TickLines`` instead of copied.
final class SessionOutputTests: XCTestCase {
    private func line(_ text: String) -> ByteBuffer { ChatSession.encode(text) }

    private func text(_ buffer: ByteBuffer?) -> String { buffer.map { String(buffer: $0) } ?? "" }

    /// What `take` writes, in order.
    private func writes(_ output: inout SessionOutput, _ tick: TickLines = TickLines()) -> [ByteBuffer] {
        var written: [ByteBuffer] = []
        output.take(sharing: tick) { written.append($0) }
        return written
    }

    /// Everything `take` writes, as one buffer; `nil` when it writes nothing.
    private func take(_ output: inout SessionOutput, _ tick: TickLines = TickLines()) -> ByteBuffer? {
        let parts = writes(&output, tick)
        guard var all = parts.first else { return nil }
        for var part in parts.dropFirst() { all.writeBuffer(&part) }
        return all
    }

    /// A chat line long enough that a few of them are a good part of a fresh tick buffer (small shares are
    /// copied, see ``testASmallShareOfABigTickBufferIsCopied``).
    private func chat(_ nick: String, _ text: String) -> String {
        "<\(nick)> \(text) " + String(repeating: ".", count: 60)
    }

    /// Where a buffer's readable bytes start in memory: equal addresses mean shared storage, not a copy.
    private func address(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withUnsafeReadableBytes { $0.baseAddress }
    }

    /// The first line of a tick asks for a flush; later ones join the same buffer.
    func testLinesOfATickShareOneBufferAndOneFlush() {
        var output = SessionOutput()
        XCTAssertTrue(output.enqueue(line("a")), "first line must schedule a flush")
        XCTAssertFalse(output.enqueue(line("b")), "later lines ride along")
        XCTAssertEqual(output.pendingBytes, 6)
        XCTAssertEqual(text(take(&output)), "a\r\nb\r\n")
        XCTAssertNil(take(&output))
        XCTAssertEqual(output.pendingBytes, 0)
        XCTAssertTrue(output.enqueue(line("c")), "a new tick schedules again")
        XCTAssertEqual(output.lines, 3)
        XCTAssertEqual(output.bytes, 9)
    }

    /// A shared broadcast buffer is not modified by appending after it.
    func testSharedBufferIsNeverModified() {
        let shared = line("shared")
        var first = SessionOutput()
        _ = first.enqueue(shared)
        _ = first.enqueue(line("more"))
        XCTAssertEqual(String(buffer: shared), "shared\r\n")
        XCTAssertEqual(text(take(&first)), "shared\r\nmore\r\n")
    }

    /// However much a tick queues, the output never asks to be flushed from inside the fan-out: a huge
    /// tick still asks for one flush, at its first line (the hub flushes at the end of the tick).
    func testBigTickNeverAsksForAnImmediateFlush() {
        var output = SessionOutput()
        XCTAssertTrue(output.enqueue(line(String(repeating: "x", count: 100_000))))
        for _ in 0..<100 { XCTAssertFalse(output.enqueue(line(String(repeating: "y", count: 10_000)))) }
        XCTAssertEqual(output.pendingBytes, 100_002 + 100 * 10_002)
    }

    /// Telnet replies are bytes, not lines: they count in `bytes_out` but not in `lines_out`.
    func testRawBytesCountAsBytesNotLines() {
        var output = SessionOutput()
        XCTAssertTrue(output.enqueue(ByteBuffer(bytes: [255, 251, 6]), countsAsLine: false))
        _ = output.enqueue(line("a"))
        XCTAssertEqual(output.lines, 1)
        XCTAssertEqual(output.bytes, 6)
        XCTAssertEqual(take(&output).map { Array($0.readableBytesView) }, [255, 251, 6, 97, 13, 10])
    }

    /// Lines queued behind a pending reply wait; the reply's lines go first when it completes.
    func testRepliesKeepCommandOrder() {
        var output = SessionOutput()
        _ = output.enqueue(line("before"))
        let first = output.reserveReply()
        XCTAssertEqual(text(take(&output)), "before\r\n")
        XCTAssertFalse(output.enqueue(line("after")), "held lines do not schedule")
        let second = output.reserveReply()
        XCTAssertEqual(output.outstandingReplies, 2)
        _ = output.enqueue(line("last"))
        XCTAssertNil(take(&output))
        XCTAssertEqual(output.completeReply(second, with: [line("r2")]), false, "still behind the first")
        XCTAssertEqual(output.outstandingReplies, 1)
        XCTAssertNil(take(&output))
        XCTAssertEqual(output.completeReply(first, with: [line("r1a"), line("r1b")]), true)
        XCTAssertEqual(output.outstandingReplies, 0)
        XCTAssertEqual(text(take(&output)), "r1a\r\nr1b\r\nafter\r\nr2\r\nlast\r\n")
        XCTAssertNil(output.completeReply(first, with: [line("late")]), "a reply is answered once")
    }

    /// After close nothing more is queued.
    func testClosedOutputDropsEverything() {
        var output = SessionOutput()
        _ = output.enqueue(line("a"))
        _ = output.reserveReply()
        output.close()
        XCTAssertEqual(output.outstandingReplies, 0)
        XCTAssertNil(take(&output))
        XCTAssertFalse(output.enqueue(line("b")), "closed output ignores lines")
        XCTAssertNil(take(&output))
    }

    /// Consecutive broadcast lines are one range of the tick's buffer, handed over as a slice of it: the
    /// fan-out never copies a line per recipient.
    func testBroadcastLinesOfATickAreOneSliceOfTheSharedBuffer() {
        var tick = TickLines()
        let a = tick.append(chat("alice", "hi")), b = tick.append(chat("bob", "yo"))
        var output = SessionOutput()
        XCTAssertTrue(output.enqueue(a, of: tick), "first line must schedule a flush")
        XCTAssertFalse(output.enqueue(b, of: tick), "later lines ride along")
        XCTAssertEqual(output.lines, 2)
        XCTAssertEqual(output.bytes, Int64(a.count + b.count))
        let written = writes(&output, tick)
        XCTAssertEqual(written.map { String(buffer: $0) }, [chat("alice", "hi") + "\r\n" + chat("bob", "yo") + "\r\n"])
        XCTAssertEqual(address(written[0]), address(tick.buffer), "a slice of the tick's buffer, not a copy")
        XCTAssertTrue(writes(&output, tick).isEmpty)
    }

    /// A client is not sent its own line: the lines around it are two slices, in order.
    func testTheClientsOwnLineSplitsItsShareIntoTwoSlices() {
        var tick = TickLines()
        let before = tick.append(chat("bob", "one")), _ = tick.append(chat("me", "mine"))
        let after = tick.append(chat("bob", "two"))
        var output = SessionOutput()
        _ = output.enqueue(before, of: tick)
        _ = output.enqueue(after, of: tick)
        XCTAssertEqual(writes(&output, tick).map { String(buffer: $0) }, [chat("bob", "one") + "\r\n", chat("bob", "two") + "\r\n"])
    }

    /// Lines only this client gets, queued between broadcast lines, keep their place.
    func testOwnLinesBetweenBroadcastLinesKeepTheirOrder() {
        var tick = TickLines()
        var output = SessionOutput()
        _ = output.enqueue(tick.append(chat("a", "1")), of: tick)
        _ = output.enqueue(line("*a* private"))
        _ = output.enqueue(line("-> a: sent"))
        _ = output.enqueue(tick.append(chat("a", "2")), of: tick)
        let written = writes(&output, tick)
        XCTAssertEqual(
            written.map { String(buffer: $0) },
            [chat("a", "1") + "\r\n", "*a* private\r\n-> a: sent\r\n", chat("a", "2") + "\r\n"])
        XCTAssertEqual(output.lines, 4)
    }

    /// A client owed a small part of a big tick buffer gets a copy, so a client that stops reading cannot
    /// keep every tick's whole buffer alive with a few bytes each.
    func testASmallShareOfABigTickBufferIsCopied() {
        var tick = TickLines()
        _ = tick.append(String(repeating: "x", count: 8_000))  // sent to everyone else
        let small = tick.append("<a> small")
        var output = SessionOutput()
        _ = output.enqueue(small, of: tick)
        let written = writes(&output, tick)
        XCTAssertEqual(written.map { String(buffer: $0) }, ["<a> small\r\n"])
        XCTAssertNotEqual(address(written[0]), tick.buffer.withUnsafeReadableBytes { $0.baseAddress! + small.lowerBound })
    }

    /// A broadcast line queued behind a pending reply is copied: the tick's buffer is reused long before the
    /// reply arrives.
    func testABroadcastLineHeldBehindAReplyOutlivesItsTick() {
        var tick = TickLines()
        var output = SessionOutput()
        let reply = output.reserveReply()
        XCTAssertFalse(output.enqueue(tick.append("<a> during the wait"), of: tick))
        tick.reset()
        _ = tick.append("<b> the next tick's line, over the old bytes")
        XCTAssertEqual(output.completeReply(reply, with: [line("* end of history")]), true)
        XCTAssertEqual(text(take(&output, tick)), "* end of history\r\n<a> during the wait\r\n")
    }
}
