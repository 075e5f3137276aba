import NIOCore

/// Telnet line framing in front of any line-based server: bytes in, lines out. It is Twisted's `LineReceiver`
/// with telnet manners: a ``TelnetLineParser`` driven by a channel handler.
///
/// ```
///   socket ─▶ [TelnetLineHandler] ─▶ [your handler]
///
///   inbound bytes:  h i \r \n  IAC DO 1   a b IAC IP c \r \0  IAC AYT  <1025 × x> \n
///   passed on:      .line("hi")           .line("c")          .areYouThere  .lineTooLong(maximumLineLength: 1024)
///   written back:             IAC WONT 1                (by this handler, flushed at the end of the read)
/// ```
/// - Lines end at CRLF, LF, CR NUL or a lone CR; ``Input/line(_:)`` carries the content without the terminator,
///   as raw bytes (not decoded, not sanitised).
/// - Telnet negotiation is answered here (or, with ``Options/passesReplies``, passed on for the server behind
///   to send in order with its output), the way the chat answers it (DESIGN.md's telnet contract):
///   `IAC DO TIMING-MARK` gets `IAC WILL TIMING-MARK` every time; any other `DO`/`WILL` is refused once per
///   option (`WONT`/`DONT`); `IAC IP`/`AO`/`EL` drop the partial line, `IAC EC` erases its last character;
///   subnegotiations are discarded. The server behind never sees a telnet byte, only ``Input``.
/// - `IAC AYT` is passed on as ``Input/areYouThere``: what counts as a visible answer is the server's to say.
/// - A line longer than ``maximumLineLength`` content bytes is not fatal: ``Input/lineTooLong(maximumLineLength:)``
///   is passed on once, when the line outgrows the limit, and the rest of that line is discarded up to its
///   terminator. The connection stays open (Twisted's `lineLengthExceeded` closes it; here the server decides).
/// - Memory is bounded: the handler holds at most ``maximumLineLength`` bytes of an unfinished line and passes
///   every finished one on synchronously (it keeps no queue). It writes the telnet replies itself, so that a
///   client that asks and never reads cannot grow the server's output, it holds `read()` while the channel is
///   not writable (above its write-buffer high-water mark) and passes the read on once it is writable again. The
///   same back-pressure covers what the handlers behind it write: a client that sends without reading is slowed
///   down by TCP instead of filling the server's memory.
/// - Replies are written when the request is parsed, behind everything written before it and ahead of what the
///   handlers behind write for later input; they are flushed in `channelReadComplete` (never from inside a
///   callout of the handlers behind it).
/// - A partial line is dropped at end of input (a half-close or a close), as `LineReceiver` drops it.
///
/// Threading: one handler per channel, used only on that channel's event loop (not `Sendable`).
public final class TelnetLineHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Input
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// What the handler passes on, in input order (see ``LineInput``).
    public typealias Input = LineInput

    /// How the handler behaves beyond framing.
    public struct Options: Sendable, Equatable {
        /// Telnet's negotiation answers are passed on as ``LineInput/reply(_:)`` for the server behind to send
        /// in order with its own output, instead of being written here (the chat keeps one output order).
        public var passesReplies = false
        /// Each read's size is passed on first as ``LineInput/received(bytes:)`` (for traffic counts).
        public var passesByteCounts = false
        /// `read()` is held while the channel is not writable (a client that does not read is not read either);
        /// off for a server that enforces its own send-queue limit.
        public var holdsReadsWhileUnwritable = true

        public init(passesReplies: Bool = false, passesByteCounts: Bool = false, holdsReadsWhileUnwritable: Bool = true) {
            self.passesReplies = passesReplies
            self.passesByteCounts = passesByteCounts
            self.holdsReadsWhileUnwritable = holdsReadsWhileUnwritable
        }
    }

    /// The line limit unless the caller says otherwise (the chat's `--max-line` default too).
    public static let defaultMaximumLineLength = 1024

    private var parser: TelnetLineParser
    /// A reply was written since the last flush.
    private var needsFlush = false
    /// A `read()` arrived while the channel was not writable; it is passed on when the channel is writable again.
    private var readHeld = false

    private let options: Options

    /// The most content bytes a line may have.
    public var maximumLineLength: Int { parser.maximumLineLength }

    /// Creates the handler for one channel. `maximumLineLength` must be positive.
    public init(maximumLineLength: Int = TelnetLineHandler.defaultMaximumLineLength, options: Options = Options()) {
        self.parser = TelnetLineParser(maximumLineLength: maximumLineLength)
        self.options = options
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if options.passesByteCounts { context.fireChannelRead(wrapInboundOut(.received(bytes: buffer.readableBytes))) }
        // Collected first and passed on after: what the handlers behind do (write, flush, close) can make NIO call
        // back into this handler, and the parser must not be in the middle of a feed when it does.
        var events: [TelnetLineParser.Event] = []
        buffer.withUnsafeReadableBytes { bytes in parser.feed(bytes) { events.append($0) } }
        for event in events {
            switch event {
            case .line(let bytes):
                context.fireChannelRead(wrapInboundOut(.line(bytes)))
            case .lineTooLong:
                context.fireChannelRead(wrapInboundOut(.lineTooLong(maximumLineLength: parser.maximumLineLength)))
            case .areYouThere:
                context.fireChannelRead(wrapInboundOut(.areYouThere))
            case .reply(let bytes) where options.passesReplies:
                context.fireChannelRead(wrapInboundOut(.reply(bytes)))
            case .reply(let bytes):
                context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
                needsFlush = true
            }
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        if !options.holdsReadsWhileUnwritable || context.channel.isWritable {
            context.read()
        } else {
            readHeld = true
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if readHeld && context.channel.isWritable {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }
}

@available(*, unavailable)
extension TelnetLineHandler: Sendable {}
