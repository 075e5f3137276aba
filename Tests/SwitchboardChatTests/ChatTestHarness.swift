import Logging
import NIOCore
import NIOEmbedded
import SwitchboardChat
import SwitchboardProtocol
import XCTest

/// Counts flushes that reach the front of a client's pipeline.
final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var flushes = 0
    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }
}

/// One hub on an `EmbeddedEventLoop` and any number of clients as `EmbeddedChannel`s on that loop: the
/// Twisted `StringTransport` way of testing protocol logic, no sockets.
final class ChatTestHarness {
    let loop = EmbeddedEventLoop()
    let history: InMemoryChatHistory
    let hub: ChatHub
    private var nextAddress = 1

    init(configuration: ChatConfiguration = ChatConfiguration(), totalVisits: Int64 = 0) {
        history = InMemoryChatHistory(loop: loop)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        hub = ChatHub(eventLoop: loop, history: history, configuration: configuration, totalVisits: totalVisits, logger: logger)
    }

    /// A connected client; its welcome (if any) is still unread.
    final class Client {
        let channel: EmbeddedChannel
        let flushes = FlushCounter()
        init(channel: EmbeddedChannel) { self.channel = channel }

        /// Sends bytes as one read batch.
        func send(_ text: String) throws { try send(Array(text.utf8)) }
        func send(_ bytes: [UInt8]) throws {
            try channel.writeInbound(channel.allocator.buffer(bytes: bytes))
        }

        /// Every line written to the client since the last call, without CRLF. Fails on a missing CRLF.
        func lines(file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
            channel.embeddedEventLoop.run()  // the end of the tick: the hub's coalesced flush runs
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                text += String(buffer: buffer)
            }
            guard !text.isEmpty else { return [] }
            XCTAssertTrue(text.hasSuffix("\r\n"), "output must end in CRLF: \(text.debugDescription)", file: file, line: line)
            return text.components(separatedBy: "\r\n").dropLast()
        }

        /// Every byte written to the client since the last call, as it went out (a WebSocket client's frames).
        func bytes() throws -> [UInt8] {
            channel.embeddedEventLoop.run()
            var bytes: [UInt8] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
            return bytes
        }

        var isActive: Bool { channel.isActive }
    }

    /// Connects a new client from its own address (or `address`), behind `frontDoor` (none: plain telnet), with
    /// telnet framing in front of its session unless `telnet` is false; `transport` says how its session frames
    /// what it writes.
    @discardableResult
    func connect(
        from address: String? = nil, frontDoor: FrontDoor = .none, transport: ChatTransport = .telnet, telnet: Bool = true
    ) throws -> Client {
        let channel = EmbeddedChannel(loop: loop)
        let client = Client(channel: channel)
        try channel.pipeline.syncOperations.addHandler(client.flushes)
        if telnet {  // else the test is the transport: it writes LineInput
            try channel.pipeline.syncOperations.addHandler(
                TelnetLineHandler.chatFraming(maximumLineLength: hub.configuration.maximumLineLength))
        }
        try channel.pipeline.syncOperations.addHandler(ChatSession(hub: hub, frontDoor: frontDoor, transport: transport))
        let ip = address ?? "192.0.2.\(nextAddress)"
        // EmbeddedChannel takes its remote address from connect(to:): "connect" to the client's address.
        try channel.connect(to: SocketAddress(ipAddress: ip, port: 40_000 + nextAddress)).wait()
        nextAddress += 1
        loop.run()
        return client
    }

    /// Connects a client, reads its welcome, and drains everyone's join notices.
    func join(_ others: [Client] = []) throws -> Client {
        let client = try connect()
        _ = try client.lines()
        for other in others { _ = try other.lines() }
        return client
    }
}
