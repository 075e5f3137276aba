import NIOCore
@testable import SwitchboardChat
import XCTest

/// ``SessionOutput`` as a pure value: ordering, reply slots, flush effects, counters.
final class SessionOutputTests: XCTestCase {
    private func line(_ text: String) -> ByteBuffer { ChatSession.encode(text) }

    private func text(_ buffer: ByteBuffer?) -> String { buffer.map { String(buffer: $0) } ?? "" }

    /// The first line of a tick asks for a flush; later ones join the same buffer.
    func testLinesOfATickShareOneBufferAndOneFlush() {
        var output = SessionOutput(flushThreshold: 1 << 20)
        guard case .scheduleFlush = output.enqueue(line("a")) else { return XCTFail("first line must schedule a flush") }
        guard case .none = output.enqueue(line("b")) else { return XCTFail("later lines ride along") }
        XCTAssertEqual(text(output.take()), "a\r\nb\r\n")
        XCTAssertNil(output.take())
        guard case .scheduleFlush = output.enqueue(line("c")) else { return XCTFail("a new tick schedules again") }
        XCTAssertEqual(output.lines, 3)
        XCTAssertEqual(output.bytes, 9)
    }

    /// A shared broadcast buffer is not modified by appending after it.
    func testSharedBufferIsNeverModified() {
        let shared = line("shared")
        var first = SessionOutput(flushThreshold: 1 << 20)
        _ = first.enqueue(shared)
        _ = first.enqueue(line("more"))
        XCTAssertEqual(String(buffer: shared), "shared\r\n")
        XCTAssertEqual(text(first.take()), "shared\r\nmore\r\n")
    }

    /// Past the threshold the caller is told to hand the buffer over now.
    func testBigTickAsksForAnImmediateFlush() {
        var output = SessionOutput(flushThreshold: 10)
        _ = output.enqueue(line("12345"))
        guard case .flushNow = output.enqueue(line("67890")) else { return XCTFail("14 bytes >= 10 must flush now") }
        _ = output.take()
        guard case .scheduleFlush = output.enqueue(line("x")) else { return XCTFail("the count restarts after take") }
    }

    /// Lines queued behind a pending reply wait; the reply's lines go first when it completes.
    func testRepliesKeepCommandOrder() {
        var output = SessionOutput(flushThreshold: 1 << 20)
        _ = output.enqueue(line("before"))
        let first = output.reserveReply()
        XCTAssertEqual(text(output.take()), "before\r\n")
        guard case .none = output.enqueue(line("after")) else { return XCTFail("held lines do not schedule") }
        let second = output.reserveReply()
        _ = output.enqueue(line("last"))
        XCTAssertNil(output.take())
        XCTAssertEqual(output.completeReply(second, with: [line("r2")]).map { "\($0)" }, "none", "still behind the first")
        XCTAssertNil(output.take())
        _ = output.completeReply(first, with: [line("r1a"), line("r1b")])
        XCTAssertEqual(text(output.take()), "r1a\r\nr1b\r\nafter\r\nr2\r\nlast\r\n")
        XCTAssertNil(output.completeReply(first, with: [line("late")]), "a reply is answered once")
    }

    /// After close nothing more is queued.
    func testClosedOutputDropsEverything() {
        var output = SessionOutput(flushThreshold: 1 << 20)
        _ = output.enqueue(line("a"))
        output.close()
        XCTAssertNil(output.take())
        guard case .none = output.enqueue(line("b")) else { return XCTFail("closed output ignores lines") }
        XCTAssertNil(output.take())
    }
}
