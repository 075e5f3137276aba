import NIOCore
@testable import SwitchboardChat
import XCTest

/// ``SessionOutput`` as a pure value: ordering, reply slots, flush scheduling, counters.
final class SessionOutputTests: XCTestCase {
    private func line(_ text: String) -> ByteBuffer { ChatSession.encode(text) }

    private func text(_ buffer: ByteBuffer?) -> String { buffer.map { String(buffer: $0) } ?? "" }

    /// The first line of a tick asks for a flush; later ones join the same buffer.
    func testLinesOfATickShareOneBufferAndOneFlush() {
        var output = SessionOutput()
        XCTAssertTrue(output.enqueue(line("a")), "first line must schedule a flush")
        XCTAssertFalse(output.enqueue(line("b")), "later lines ride along")
        XCTAssertEqual(output.pendingBytes, 6)
        XCTAssertEqual(text(output.take()), "a\r\nb\r\n")
        XCTAssertNil(output.take())
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
        XCTAssertEqual(text(first.take()), "shared\r\nmore\r\n")
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
        XCTAssertEqual(Array(output.take()!.readableBytesView), [255, 251, 6, 97, 13, 10])
    }

    /// Lines queued behind a pending reply wait; the reply's lines go first when it completes.
    func testRepliesKeepCommandOrder() {
        var output = SessionOutput()
        _ = output.enqueue(line("before"))
        let first = output.reserveReply()
        XCTAssertEqual(text(output.take()), "before\r\n")
        XCTAssertFalse(output.enqueue(line("after")), "held lines do not schedule")
        let second = output.reserveReply()
        XCTAssertEqual(output.outstandingReplies, 2)
        _ = output.enqueue(line("last"))
        XCTAssertNil(output.take())
        XCTAssertEqual(output.completeReply(second, with: [line("r2")]), false, "still behind the first")
        XCTAssertEqual(output.outstandingReplies, 1)
        XCTAssertNil(output.take())
        XCTAssertEqual(output.completeReply(first, with: [line("r1a"), line("r1b")]), true)
        XCTAssertEqual(output.outstandingReplies, 0)
        XCTAssertEqual(text(output.take()), "r1a\r\nr1b\r\nafter\r\nr2\r\nlast\r\n")
        XCTAssertNil(output.completeReply(first, with: [line("late")]), "a reply is answered once")
    }

    /// After close nothing more is queued.
    func testClosedOutputDropsEverything() {
        var output = SessionOutput()
        _ = output.enqueue(line("a"))
        _ = output.reserveReply()
        output.close()
        XCTAssertEqual(output.outstandingReplies, 0)
        XCTAssertNil(output.take())
        XCTAssertFalse(output.enqueue(line("b")), "closed output ignores lines")
        XCTAssertNil(output.take())
    }
}
