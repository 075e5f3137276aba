import NIOCore
import NIOEmbedded
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

/// `TelnetLineHandler` in an `EmbeddedChannel` (Twisted's `StringTransport`): what reaches the handler behind it,
/// what it writes back itself, and that neither depends on how the input is split into reads.
final class TelnetLineHandlerTests: XCTestCase {
    private typealias Input = TelnetLineHandler.Input

    private static let iac: UInt8 = 255
    private static let will: UInt8 = 251
    private static let wont: UInt8 = 252
    private static let `do`: UInt8 = 253
    private static let dont: UInt8 = 254
    private static let ip: UInt8 = 244
    private static let ayt: UInt8 = 246
    private static let timingMark: UInt8 = 6

    /// A session exercising every kind of input: terminators, negotiation, Ctrl-C, AYT, an overlong line, a
    /// subnegotiation, a literal 0xFF.
    private static let mixedSession: [UInt8] =
        Array("hi\r\nyo\n".utf8)
        + [iac, `do`, 1] + Array("ab".utf8) + [iac, ip, iac, `do`, timingMark] + Array("c\r\0".utf8)
        + [iac, ayt] + Array(repeating: UInt8(ascii: "x"), count: 40) + Array("\r\n".utf8)
        + [iac, will, 3, iac, 250, 24, 1, iac, 240] + Array("é\n".utf8) + [iac, iac] + Array("\r\n".utf8)
        + [iac, `do`, 1, iac, `do`, timingMark] + Array("end\n".utf8)

    // MARK: lines

    /// Lines reach the handler behind without their terminators, whichever terminator ended them.
    func testLinesArePassedOnWithoutTerminators() throws {
        let channel = try makeChannel()
        try channel.writeInbound(buffer(Array("one\r\ntwo\nthree\r\0four\r".utf8)))
        XCTAssertEqual(try readInputs(channel), [line("one"), line("two"), line("three"), line("four")])
        XCTAssertTrue(try channel.finish().isClean)
    }

    /// Input fed one byte per read, in odd-sized chunks, and in one batch gives the same lines and the same replies
    /// (in the manner of nio-extras' `testDripFedCRLN`).
    func testDripFedInputGivesTheSameLinesAndRepliesAsOneBatch() throws {
        let whole = try run(Self.mixedSession, chunkSizes: [Self.mixedSession.count])
        XCTAssertEqual(whole.inputs, [
            line("hi"), line("yo"), line("c"), .areYouThere, .lineTooLong(maximumLineLength: 32), line("é"),
            .line([0xFF]), line("end"),
        ])
        XCTAssertEqual(whole.replies, [
            Self.iac, Self.wont, 1, Self.iac, Self.will, Self.timingMark, Self.iac, Self.dont, 3,
            Self.iac, Self.will, Self.timingMark,
        ])
        for sizes in [[1], [2], [3], [7], [1, 5, 2, 11]] {
            let split = try run(Self.mixedSession, chunkSizes: sizes)
            XCTAssertEqual(split.inputs, whole.inputs, "chunks of \(sizes)")
            XCTAssertEqual(split.replies, whole.replies, "chunks of \(sizes)")
        }
    }

    // MARK: telnet

    /// Negotiation is answered by the handler the way the chat answers it, and never reaches the handler behind:
    /// `DO x` is refused once, `WILL x` is refused once, `DO TIMING-MARK` is answered every time.
    func testNegotiationIsAnsweredHereAndNeverPassedOn() throws {
        let channel = try makeChannel()
        try channel.writeInbound(buffer([Self.iac, Self.do, 1, Self.iac, Self.do, 1, Self.iac, Self.will, 3]))
        XCTAssertEqual(try readReplies(channel), [Self.iac, Self.wont, 1, Self.iac, Self.dont, 3])
        try channel.writeInbound(buffer([Self.iac, Self.do, Self.timingMark, Self.iac, Self.do, Self.timingMark]))
        XCTAssertEqual(try readReplies(channel), [Self.iac, Self.will, Self.timingMark, Self.iac, Self.will, Self.timingMark])
        XCTAssertEqual(try readInputs(channel), [])
        XCTAssertTrue(try channel.finish().isClean)
    }

    /// Telnet's Ctrl-C (`IAC IP IAC DO TIMING-MARK`, as inetutils telnet sends it) drops the partial line and gets
    /// its timing mark answered, so the user's terminal shows output again.
    func testCtrlCDropsThePartialLineAndIsAnswered() throws {
        let channel = try makeChannel()
        try channel.writeInbound(buffer(Array("abc".utf8) + [0xff, 0xf4, 0xff, 0xfd, 0x06] + Array("d\r\n".utf8)))
        XCTAssertEqual(try readInputs(channel), [line("d")])
        XCTAssertEqual(try readReplies(channel), [Self.iac, Self.will, Self.timingMark])
        XCTAssertTrue(try channel.finish().isClean)
    }

    /// `IAC AYT` is passed on for the server to answer visibly; the handler writes nothing for it.
    func testAreYouThereIsPassedOn() throws {
        let channel = try makeChannel()
        try channel.writeInbound(buffer([Self.iac, Self.ayt]))
        XCTAssertEqual(try readInputs(channel), [.areYouThere])
        XCTAssertEqual(try readReplies(channel), [])
        XCTAssertTrue(try channel.finish().isClean)
    }

    /// Replies are written as the request is parsed but flushed only at the end of the read: nothing the handler
    /// does flushes from inside the handlers behind it.
    func testRepliesAreFlushedAtTheEndOfTheRead() throws {
        let channel = try makeChannel()
        channel.pipeline.syncOperations.fireChannelRead(NIOAny(buffer([Self.iac, Self.do, 1])))
        XCTAssertEqual(try readReplies(channel), [], "flushed before channelReadComplete")
        channel.pipeline.syncOperations.fireChannelReadComplete()
        XCTAssertEqual(try readReplies(channel), [Self.iac, Self.wont, 1])
        XCTAssertTrue(try channel.finish().isClean)
    }

    // MARK: limits

    /// A line over the limit is reported once, its rest is discarded up to its terminator, and the next line is
    /// read as usual: the connection stays.
    func testOverlongLineIsReportedOnceAndTheConnectionStays() throws {
        let channel = try makeChannel(maximumLineLength: 8)
        try channel.writeInbound(buffer(Array("12345678\r\n123456789".utf8)))
        try channel.writeInbound(buffer(Array("more of the same\r\nok\r\n".utf8)))
        XCTAssertEqual(try readInputs(channel), [line("12345678"), .lineTooLong(maximumLineLength: 8), line("ok")])
        XCTAssertTrue(channel.isActive)
        XCTAssertTrue(try channel.finish().isClean)
    }

    /// An endless line (10 MB, no terminator) is one report, not ten million bytes held: after it, a terminator
    /// and a short line come through.
    func testEndlessLineIsReportedOnceAndHeldBounded() throws {
        let channel = try makeChannel()
        let chunk = buffer(Array(repeating: UInt8(ascii: "z"), count: 64 * 1024))
        for _ in 0..<160 { try channel.writeInbound(chunk) }
        XCTAssertEqual(try readInputs(channel), [.lineTooLong(maximumLineLength: TelnetLineHandler.defaultMaximumLineLength)])
        try channel.writeInbound(buffer(Array("\nshort\n".utf8)))
        XCTAssertEqual(try readInputs(channel), [line("short")])
        XCTAssertTrue(try channel.finish().isClean)
    }

    /// A partial line is dropped at end of input, as `LineReceiver` drops it; the half-close event is passed on.
    func testPartialLineIsDroppedAtEndOfInput() throws {
        let channel = try makeChannel()
        let events = EventRecorder()
        try channel.pipeline.syncOperations.addHandler(events)
        try channel.writeInbound(buffer(Array("no terminator".utf8)))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        XCTAssertEqual(try readInputs(channel), [])
        XCTAssertEqual(events.inputClosed, 1)
        XCTAssertTrue(try channel.finish().isClean)
    }

    // MARK: back-pressure

    /// While the channel is not writable (a client that does not read), `read()` is held, so the client's further
    /// input waits in the kernel instead of making the server write more; it is passed on once writable again.
    func testReadsAreHeldWhileTheChannelIsNotWritable() throws {
        let reads = ReadCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(reads, TelnetLineHandler())
        channel.read()
        XCTAssertEqual(reads.count, 1, "a writable channel reads")
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.read()
        XCTAssertEqual(reads.count, 1, "read passed on while not writable")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(reads.count, 2, "held read not passed on when writable again")
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(reads.count, 2, "a read passed on twice")
        XCTAssertTrue(try channel.finish().isClean)
    }

    // MARK: options (the chat's framing)

    /// With `passesReplies` and `passesByteCounts` (how the chat uses it) the answers go to the handler behind in
    /// input order, for it to send in order with its own output, and nothing is written here.
    func testRepliesAndByteCountsArePassedOnInOrderWhenAskedFor() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            TelnetLineHandler(options: .init(passesReplies: true, passesByteCounts: true, holdsReadsWhileUnwritable: false)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
        let bytes = Array("a\n".utf8) + [Self.iac, Self.do, Self.timingMark] + Array("b\n".utf8)
        try channel.writeInbound(buffer(bytes))
        XCTAssertEqual(
            try readInputs(channel),
            [.received(bytes: bytes.count), line("a"), .reply([Self.iac, Self.will, Self.timingMark]), line("b")])
        XCTAssertEqual(try readReplies(channel), [], "nothing written by the framing itself")
        channel.isWritable = false
        let reads = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(reads, position: .first)
        channel.read()
        XCTAssertEqual(reads.count, 1, "reads are not held for writability when the server behind enforces its own limit")
        XCTAssertTrue(try channel.finish().isClean)
    }

    // MARK: - Helpers

    private func makeChannel(maximumLineLength: Int = TelnetLineHandler.defaultMaximumLineLength) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(TelnetLineHandler(maximumLineLength: maximumLineLength))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()  // active, as a connection is
        return channel
    }

    /// Feeds `bytes` in reads of the given sizes (cycled), with a 32-byte line limit; returns what came out.
    private func run(_ bytes: [UInt8], chunkSizes: [Int]) throws -> (inputs: [Input], replies: [UInt8]) {
        let channel = try makeChannel(maximumLineLength: 32)
        var offset = 0
        var index = 0
        var inputs: [Input] = []
        var replies: [UInt8] = []
        while offset < bytes.count {
            let size = min(chunkSizes[index % chunkSizes.count], bytes.count - offset)
            try channel.writeInbound(buffer(Array(bytes[offset..<offset + size])))
            offset += size
            index += 1
            inputs += try readInputs(channel)
            replies += try readReplies(channel)
        }
        XCTAssertTrue(try channel.finish().isClean)
        return (inputs, replies)
    }

    private func readInputs(_ channel: EmbeddedChannel) throws -> [Input] {
        var inputs: [Input] = []
        while let input = try channel.readInbound(as: Input.self) { inputs.append(input) }
        return inputs
    }

    private func readReplies(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        return bytes
    }

    private func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
    private func line(_ text: String) -> Input { .line(Array(text.utf8)) }
}

/// Counts the `read()` calls that reach it (put it in front of the handler under test).
private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private(set) var count = 0
    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}

/// Counts the half-close events that reach the end of the pipeline.
private final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = TelnetLineHandler.Input
    typealias InboundOut = TelnetLineHandler.Input
    private(set) var inputClosed = 0
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { inputClosed += 1 }
        context.fireUserInboundEventTriggered(event)
    }
}
