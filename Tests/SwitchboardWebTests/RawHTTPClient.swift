import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

/// A test's HTTP client that sends exactly the bytes it is given (smuggling attempts, slow heads, pipelined
/// requests) and reads raw responses back; nothing is normalised on the way.
final class RawHTTPClient: Sendable {
    struct Response: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: String

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
        func headers(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
        }
    }

    private let channel: any Channel
    private let collector: Collector

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    static func connect(port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RawHTTPClient {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawHTTPClient(channel: channel, collector: collector)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Waits for `count` whole responses (bodies by `Content-Length`), failing after `timeout`.
    func responses(_ count: Int, timeout: TimeAmount = .seconds(10)) async throws -> [Response] {
        let deadline = NIODeadline.now() + timeout
        while true {
            let (bytes, closed) = collector.snapshot
            let (parsed, _) = RawHTTPClient.parse(bytes)
            if parsed.count >= count { return Array(parsed.prefix(count)) }
            if closed || NIODeadline.now() > deadline {
                throw RawHTTPClientError.incomplete(received: String(decoding: bytes, as: UTF8.self))
            }
            try await collector.waitForMore(than: bytes.count, within: deadline)
        }
    }

    /// Everything received until the server closes the connection (failing after `timeout`).
    func untilClosed(timeout: TimeAmount = .seconds(10)) async throws -> (responses: [Response], raw: String) {
        let deadline = NIODeadline.now() + timeout
        while true {
            let (bytes, closed) = collector.snapshot
            if closed { return (RawHTTPClient.parse(bytes).0, String(decoding: bytes, as: UTF8.self)) }
            if NIODeadline.now() > deadline { throw RawHTTPClientError.notClosed(received: String(decoding: bytes, as: UTF8.self)) }
            try await collector.waitForMore(than: bytes.count, within: deadline)
        }
    }

    var isClosed: Bool { collector.isClosed }

    /// Every byte received so far.
    var receivedBytes: [UInt8] { collector.bytes }

    /// Every byte received so far and whether the server closed, read together (for a wait loop's look).
    var snapshot: (bytes: [UInt8], closed: Bool) { collector.snapshot }

    /// Returns when more than `seen` bytes have arrived or the connection closes (or at `deadline`). `seen` is
    /// the count the caller looked at: bytes that came after its look, before this call, end the wait at once.
    func waitForMore(than seen: Int, until deadline: NIODeadline) async throws {
        try await collector.waitForMore(than: seen, within: deadline)
    }

    /// Waits until the text received contains `text` (a telnet client's welcome, say); returns all of it.
    func waitFor(_ text: String, timeout: TimeAmount = .seconds(10)) async throws -> String {
        let deadline = NIODeadline.now() + timeout
        while true {
            let (bytes, closed) = collector.snapshot
            let received = String(decoding: bytes, as: UTF8.self)
            if received.contains(text) { return received }
            if closed || NIODeadline.now() > deadline { throw RawHTTPClientError.incomplete(received: received) }
            try await collector.waitForMore(than: bytes.count, within: deadline)
        }
    }

    func close() async {
        try? await channel.close()
    }

    /// Whole responses at the front of `bytes`, and how many bytes they took.
    static func parse(_ bytes: [UInt8]) -> ([Response], Int) {
        var responses: [Response] = []
        var offset = 0
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while offset < bytes.count {
            guard let end = bytes[offset...].firstRange(of: separator) else { break }
            let head = String(decoding: bytes[offset..<end.lowerBound], as: UTF8.self)
            var lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { break }
            let headers = lines.compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            let length = Int(headers.first { $0.0.lowercased() == "content-length" }?.1 ?? "0") ?? 0
            let bodyStart = end.upperBound
            // HEAD responses and 1xx carry no body whatever the length says; the tests that send HEAD check
            // the raw bytes instead.
            let bodyLength = status == 101 ? 0 : length
            guard bytes.count >= bodyStart + bodyLength else { break }
            let body = String(decoding: bytes[bodyStart..<(bodyStart + bodyLength)], as: UTF8.self)
            responses.append(Response(status: status, headers: headers, body: body))
            offset = bodyStart + bodyLength
        }
        return (responses, offset)
    }

    /// Collects what arrives; wakes waiters. Its state is behind a lock (read by the test's task).
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        private struct State {
            var bytes: [UInt8] = []
            var closed = false
            var waiters: [CheckedContinuation<Void, Never>] = []
        }
        private let state = NIOLockedValueBox(State())

        var bytes: [UInt8] { state.withLockedValue { $0.bytes } }
        var isClosed: Bool { state.withLockedValue { $0.closed } }
        /// What has arrived and whether it is closed, read together: a waiter passes this count on, so what
        /// arrives between its look and its wait is not missed.
        var snapshot: (bytes: [UInt8], closed: Bool) { state.withLockedValue { ($0.bytes, $0.closed) } }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            wake { $0.bytes.append(contentsOf: buffer.readableBytesView) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            wake { $0.closed = true }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }

        private func wake(_ change: (inout State) -> Void) {
            let waiters = state.withLockedValue { state in
                change(&state)
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }

        /// Returns when more than `seen` bytes have arrived or the connection closes, or at `deadline` at the latest.
        /// (Counting from the caller's own look, not from this call: a response that arrived in between used to
        /// sleep here until the deadline — 10 s stalls, and a held keep-alive connection timed out meanwhile.)
        func waitForMore(than seen: Int, within deadline: NIODeadline) async throws {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if state.bytes.count != seen || state.closed { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume(); return }
                // The deadline wakes a waiter that nothing else will.
                let remaining = max(deadline - NIODeadline.now(), .milliseconds(1))
                MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: remaining) { [self] in
                    self.wake { _ in }
                }
            }
        }
    }
}

enum RawHTTPClientError: Error {
    case incomplete(received: String)
    case notClosed(received: String)
}
