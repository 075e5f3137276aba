import Foundation
import NIOConcurrencyHelpers
import NIOCore
import XCTest

/// A test's WebSocket client over ``RawHTTPClient``: it does the handshake, then sends frames built byte by
/// byte — well-formed or not (unmasked, binary, endless fragments) — and reads the server's frames back.
final class RawWebSocketClient: Sendable {
    struct Frame: Equatable {
        var fin: Bool
        var opcode: UInt8
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
        /// A close frame's code.
        var closeCode: Int? { opcode == 8 && payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil }
    }

    static let text: UInt8 = 1
    static let binary: UInt8 = 2
    static let close: UInt8 = 8
    static let ping: UInt8 = 9
    static let pong: UInt8 = 10

    let http: RawHTTPClient
    private let consumed = NIOLockedValueBox(0)

    private init(http: RawHTTPClient, consumed: Int) {
        self.http = http
        self.consumed.withLockedValue { $0 = consumed }
    }

    /// Opens `/chat` on `port` with `origin` (none if `nil`); throws ``RawWebSocketClientError/refused`` with
    /// the status when the server does not switch protocols.
    static func connect(port: Int, origin: String? = "http://127.0.0.1", path: String = "/chat") async throws -> RawWebSocketClient {
        let http = try await RawHTTPClient.connect(port: port)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        if let origin { request += "Origin: \(origin == "http://127.0.0.1" ? "http://127.0.0.1:\(port)" : origin)\r\n" }
        try await http.send(request + "\r\n")
        let response = try await http.responses(1)[0]
        guard response.status == 101 else { throw RawWebSocketClientError.refused(response.status) }
        let (_, used) = RawHTTPClient.parse(http.receivedBytes)
        return RawWebSocketClient(http: http, consumed: used)
    }

    /// Sends one frame: masked unless `masked` is false, with the reserved bits as given.
    func send(opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv: UInt8 = 0) async throws {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case 0..<126: bytes.append(maskBit | UInt8(payload.count))
        case 126...0xFFFF: bytes += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default: bytes += [maskBit | 127] + (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        if masked {
            let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
            bytes += mask
            bytes += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        } else {
            bytes += payload
        }
        try await http.send(bytes: bytes)
    }

    func send(_ line: String) async throws {
        try await send(opcode: RawWebSocketClient.text, Array(line.utf8))
    }

    /// The next frame from the server, waiting up to `timeout`.
    func next(timeout: TimeAmount = .seconds(10)) async throws -> Frame {
        let deadline = NIODeadline.now() + timeout
        while true {
            let start = consumed.withLockedValue { $0 }
            let (received, closed) = http.snapshot
            if let (frame, length) = RawWebSocketClient.parse(received, from: start) {
                consumed.withLockedValue { $0 += length }
                return frame
            }
            if closed || NIODeadline.now() > deadline { throw RawWebSocketClientError.noFrame(closed: closed) }
            try await http.waitForMore(than: received.count, until: deadline)
        }
    }

    /// Text frames until one contains `text` (answering pings meanwhile), within `timeout` in all; returns
    /// them all (that one last).
    @discardableResult
    func waitFor(_ text: String, timeout: TimeAmount = .seconds(10)) async throws -> [String] {
        var seen: [String] = []
        let deadline = NIODeadline.now() + timeout
        while true {
            let frame = try await next(timeout: max(deadline - NIODeadline.now(), .zero))
            if frame.opcode == RawWebSocketClient.ping {
                try await send(opcode: RawWebSocketClient.pong, frame.payload)
                continue
            }
            guard frame.opcode == RawWebSocketClient.text else {
                throw RawWebSocketClientError.unexpected(frame.opcode, frame.closeCode, seen)
            }
            seen.append(frame.text)
            if frame.text.contains(text) { return seen }
        }
    }

    /// Reads frames until the close frame; returns its code, then waits for the connection to close.
    func closeCode(timeout: TimeAmount = .seconds(10)) async throws -> Int? {
        while true {
            let frame = try await next(timeout: timeout)
            if frame.opcode == RawWebSocketClient.close {
                _ = try await http.untilClosed(timeout: timeout)
                return frame.closeCode
            }
        }
    }

    func close() async { await http.close() }

    static func parse(_ bytes: [UInt8], from start: Int) -> (Frame, Int)? {
        guard bytes.count >= start + 2 else { return nil }
        let first = bytes[start]
        var length = Int(bytes[start + 1] & 0x7F)
        var offset = start + 2
        if length == 126 {
            guard bytes.count >= offset + 2 else { return nil }
            length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            offset += 2
        } else if length == 127 {
            guard bytes.count >= offset + 8 else { return nil }
            length = bytes[offset..<offset + 8].reduce(0) { $0 << 8 | Int($1) }
            offset += 8
        }
        guard bytes.count >= offset + length else { return nil }
        let frame = Frame(fin: first & 0x80 != 0, opcode: first & 0x0F, payload: Array(bytes[offset..<offset + length]))
        return (frame, offset + length - start)
    }
}

enum RawWebSocketClientError: Error {
    case refused(Int)
    case noFrame(closed: Bool)
    case unexpected(UInt8, Int?, [String])
}
