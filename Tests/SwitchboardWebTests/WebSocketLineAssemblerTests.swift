import NIOCore
import NIOWebSocket
import XCTest

@testable import SwitchboardWeb

/// The frames-to-lines machine without a channel: every frame shape a client can send, and what it becomes.
final class WebSocketLineAssemblerTests: XCTestCase {
    private func frame(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true, masked: Bool = true) -> WebSocketFrame {
        frame(opcode, Array(text.utf8), fin: fin, masked: masked)
    }

    private func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true, masked: Bool = true) -> WebSocketFrame {
        // Frames arrive as the decoder makes them: data still masked, with the key.
        let key: WebSocketMaskingKey? = masked ? WebSocketMaskingKey([1, 2, 3, 4]) : nil
        var data = ByteBuffer(bytes: bytes)
        if let key { data.webSocketMask(key) }
        return WebSocketFrame(fin: fin, opcode: opcode, maskKey: key, data: data)
    }

    private func assembler(max: Int = 16, fragments: Int = 4) -> WebSocketLineAssembler {
        WebSocketLineAssembler(maximumLineLength: max, maximumFragments: fragments)
    }

    func testATextFrameIsOneLineAndFragmentsJoin() {
        var machine = assembler()
        XCTAssertEqual(machine.receive(frame(.text, "hello")), .line(Array("hello".utf8)))
        XCTAssertEqual(machine.receive(frame(.text, "he", fin: false)), .none)
        XCTAssertEqual(machine.receive(frame(.continuation, "l", fin: false)), .none)
        XCTAssertEqual(machine.receive(frame(.continuation, "lo")), .line(Array("hello".utf8)))
        XCTAssertEqual(machine.receive(frame(.text, "")), .line([]))
        XCTAssertEqual(machine.receive(frame(.text, "é ✓")), .line(Array("é ✓".utf8)))
    }

    /// One frame can never become two lines: CR and LF inside it are dropped.
    func testLineBreaksInsideAFrameAreDropped() {
        var machine = assembler()
        XCTAssertEqual(machine.receive(frame(.text, "a\r\nb\nc\r")), .line(Array("abc".utf8)))
    }

    func testPingsAreAnsweredAndPongsIgnored() {
        var machine = assembler()
        XCTAssertEqual(machine.receive(frame(.ping, "x")), .pong(ByteBuffer(string: "x")))
        XCTAssertEqual(machine.receive(frame(.pong, "y")), .none)
        // Control frames may come between the fragments of a message.
        XCTAssertEqual(machine.receive(frame(.text, "a", fin: false)), .none)
        XCTAssertEqual(machine.receive(frame(.ping, "")), .pong(ByteBuffer()))
        XCTAssertEqual(machine.receive(frame(.continuation, "b")), .line(Array("ab".utf8)))
    }

    /// Each refusal has its RFC 6455 close code, and nothing is taken after it.
    func testEachRefusalHasItsCloseCode() {
        func code(_ frames: [WebSocketFrame], max: Int = 16, fragments: Int = 4) -> WebSocketErrorCode? {
            var machine = assembler(max: max, fragments: fragments)
            for frame in frames {
                if case .close(let code, _) = machine.receive(frame) {
                    XCTAssertTrue(machine.isClosed)
                    XCTAssertEqual(machine.receive(self.frame(.text, "after")), .none, "nothing after a close")
                    return code
                }
            }
            return nil
        }
        XCTAssertEqual(code([frame(.binary, "x")]), .unacceptableData)
        XCTAssertEqual(code([frame(.text, String(repeating: "a", count: 17))]), .messageTooLarge)
        XCTAssertEqual(code([frame(.text, String(repeating: "a", count: 16))]), nil, "exactly the limit is a line")
        XCTAssertEqual(code([frame(.text, "aaaaaaaaa", fin: false), frame(.continuation, "bbbbbbbbb")]), .messageTooLarge)
        XCTAssertEqual(code((0..<5).map { frame($0 == 0 ? .text : .continuation, "", fin: false) }), .policyViolation)
        XCTAssertEqual(code([frame(.text, [0xC3, 0x28])]), .dataInconsistentWithMessage)
        XCTAssertEqual(code([frame(.text, "a", masked: false)]), .protocolError)
        XCTAssertEqual(code([frame(.continuation, "a")]), .protocolError)
        XCTAssertEqual(code([frame(.text, "a", fin: false), frame(.text, "b")]), .protocolError)
        XCTAssertEqual(code([frame(.connectionClose, [0x03, 0xE8])]), .normalClosure)
        var reserved = frame(.text, "a")
        reserved.rsv1 = true
        XCTAssertEqual(code([reserved]), .protocolError)
    }
}
