import NIOCore
import SwitchboardProtocol

/// One connection of a proxy: reads one URL, answers with the page (or one `! …` line saying why not), then
/// closes. In Twisted:
///
/// ```python
/// class WebProxy(LineReceiver):
///     def lineReceived(self, line):
///         d = getPage(line)
///         d.addCallbacks(self.transport.write, lambda failure: self.sendLine(b"! " + failure.getErrorMessage()))
///         d.addBoth(lambda _: self.transport.loseConnection())
/// ```
/// Where the page comes from is the proxy's own (``PageSource``): a fetch of its own in `proxy`, the shared
/// cache in `caching-proxy`.
///
/// - Blank lines are skipped; the first other line is the request, and input after it is ignored. A line that is
///   not a `http:`/`https:` URL, or is longer than ``maximumLineLength``, is answered with an error line.
/// - The connection closes once the answer is written (Twisted's `loseConnection`: what is queued goes first).
///   A client may half-close after its URL and still get the answer: the bootstrap must allow half-closure
///   (``configure(_:pageSource:)`` does).
/// - A client whose connection ends before its answer (a reset, or a write that fails) cancels its fetch
///   (``PageFetch/cancel()``); a shared fetch ignores that, and the others still get the page. A client that
///   closes normally sends FIN, which looks the same as a half-close: its fetch runs on, bounded by the fetch's
///   timeout and size limit, and the answer is dropped by its kernel.
///
/// Threading: one per connection, on the connection's event loop. The page source is called there.
public final class PageRequestHandler: ChannelInboundHandler {
    public typealias InboundIn = TelnetLineHandler.Input
    public typealias OutboundOut = ByteBuffer

    /// Starts getting the page for a URL; called on the connection's event loop.
    public typealias PageSource = (PageURL) -> PageFetch

    /// The longest request line (URLs of a few KiB are common; browsers and servers allow about 8 KiB).
    public static let maximumLineLength = 8 * 1024

    private let pageSource: PageSource
    private var fetch: PageFetch?
    /// The request arrived: what follows it is ignored.
    private var asked = false
    private var active = false

    public init(pageSource: @escaping PageSource) {
        self.pageSource = pageSource
    }

    /// Sets up a proxy connection: half-closure allowed, the telnet framing with the request line's limit, and
    /// this handler. Call on the channel's event loop (in a child channel initializer).
    public static func configure(_ channel: any Channel, pageSource: @escaping PageSource) throws {
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try channel.pipeline.syncOperations.addHandlers(
            TelnetLineHandler(maximumLineLength: maximumLineLength), PageRequestHandler(pageSource: pageSource))
    }

    public func channelActive(context: ChannelHandlerContext) {
        active = true
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        active = false
        fetch?.cancel()
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client that sends its URL and half-closes (`printf 'URL\n' | nc -N …`) still gets its page; one that
        // half-closes without asking has nothing coming.
        if let event = event as? ChannelEvent, event == .inputClosed, !asked {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !asked else { return }
        switch unwrapInboundIn(data) {
        case .line(let bytes):
            let text = String(decoding: bytes, as: UTF8.self)
            guard !text.allSatisfy(\.isWhitespace) else { return }
            asked = true
            let url: PageURL
            do {
                url = try PageURL(parsing: text)
            } catch {
                return finish("! \(error)\r\n", context)
            }
            let fetch = pageSource(url)
            self.fetch = fetch
            fetch.page.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let page): self.finish(page, context)
                case .failure(let error): self.finish("! \(error)\r\n", context)
                }
            }
        case .lineTooLong(let maximum):
            asked = true
            finish("! line too long (max \(maximum) bytes)\r\n", context)
        case .areYouThere:
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "* yes, still here\r\n")), promise: nil)
        case .reply, .received:
            break  // not asked for (TelnetLineHandler.Options)
        }
    }

    private func finish(_ text: String, _ context: ChannelHandlerContext) {
        finish(ByteBuffer(string: text), context)
    }

    /// Writes the answer, then closes once it is written.
    private func finish(_ answer: ByteBuffer, _ context: ChannelHandlerContext) {
        fetch = nil
        guard active else { return }  // the client left meanwhile
        context.writeAndFlush(wrapOutboundOut(answer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension PageRequestHandler: Sendable {}
