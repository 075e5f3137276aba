import NIOCore
import NIOWebSocket

/// Turns a client's WebSocket frames into chat lines, refusing what the chat does not take: a pure value
/// (frames in, actions out), driven by ``WebSocketLineAdapter`` and tested without a channel.
///
/// ```
///  text(fin) "hello"                    ─▶ .line("hello")
///  text "he" ─ continuation "l" ─ continuation(fin) "lo" ─▶ .line("hello")   (≤ --max-line bytes, ≤ N fragments)
///  ping "x"                             ─▶ .pong("x")          pong ─▶ nothing (the adapter notes the life sign)
///  close(code)                          ─▶ .close(1000, echo)
///  binary                               ─▶ .close(1003)        unmasked, reserved bits, stray continuation ─▶ .close(1002)
///  a message over --max-line            ─▶ .close(1009)        more fragments than allowed ─▶ .close(1008)
///  text that is not UTF-8               ─▶ .close(1007)
/// ```
/// One message is one line: CR and LF inside it are dropped (the chat would strip them as control characters
/// anyway), so a frame can never become two lines. Memory: at most `maximumLineLength` bytes are held.
struct WebSocketLineAssembler {
    enum Action: Equatable {
        /// A whole line (UTF-8, no CR or LF).
        case line([UInt8])
        /// Answer a ping.
        case pong(ByteBuffer)
        /// Send a close frame with this code and reason, then close the connection.
        case close(WebSocketErrorCode, String)
        /// Nothing to do (a pong, a fragment that is not the last).
        case none
    }

    let maximumLineLength: Int
    let maximumFragments: Int
    /// The message being put together, if a first fragment has come.
    private var partial: [UInt8]?
    private var fragments = 0
    private(set) var isClosed = false

    init(maximumLineLength: Int, maximumFragments: Int) {
        self.maximumLineLength = maximumLineLength
        self.maximumFragments = maximumFragments
    }

    mutating func receive(_ frame: WebSocketFrame) -> Action {
        guard !isClosed else { return .none }
        guard frame.maskKey != nil else { return close(.protocolError, "client frames must be masked") }
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else { return close(.protocolError, "no extension was agreed") }
        switch frame.opcode {
        case .text:
            guard partial == nil else { return close(.protocolError, "a new message before the last one ended") }
            partial = []
            fragments = 0
            return append(frame)
        case .continuation:
            guard partial != nil else { return close(.protocolError, "a continuation without a message") }
            return append(frame)
        case .binary:
            return close(.unacceptableData, "only text frames: one line each")
        case .ping:
            return .pong(frame.unmaskedData)
        case .pong:
            return .none
        case .connectionClose:
            // The client leaves: answer with a close of our own (RFC 6455 §5.5.1), whatever its code.
            isClosed = true
            return .close(.normalClosure, "")
        default:
            return close(.protocolError, "unknown opcode")
        }
    }

    private mutating func append(_ frame: WebSocketFrame) -> Action {
        fragments += 1
        guard fragments <= maximumFragments else {
            return close(.policyViolation, "more than \(maximumFragments) fragments in one message")
        }
        let data = frame.unmaskedData
        guard (partial?.count ?? 0) + data.readableBytes <= maximumLineLength else {
            return close(.messageTooLarge, "line too long (max \(maximumLineLength) bytes)")
        }
        partial?.append(contentsOf: data.readableBytesView)
        guard frame.fin, let message = partial else { return .none }
        partial = nil
        guard String(validating: message, as: UTF8.self) != nil else {
            return close(.dataInconsistentWithMessage, "text frames must be UTF-8")
        }
        return .line(message.filter { $0 != 0x0D && $0 != 0x0A })
    }

    private mutating func close(_ code: WebSocketErrorCode, _ reason: String) -> Action {
        isClosed = true
        partial = nil
        return .close(code, reason)
    }
}
