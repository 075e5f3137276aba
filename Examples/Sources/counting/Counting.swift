import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import SwitchboardProtocol

/// The factory's shared state: how many clients are connected. Twisted's `factory.numProtocols`.
///
/// Ownership: the server's one event loop. The listener and every connection live on it (the bootstrap's group
/// is that one loop, as Twisted has one reactor), so the count needs no lock; `NIOLoopBoundBox` checks the loop.
final class ConnectionCount {
    var value = 0

    /// "1 client connected", "3 clients connected".
    var sentence: String { value == 1 ? "1 client connected" : "\(value) clients connected" }
}

/// One connection of `counting`: says how many clients are connected when it connects and after each line.
/// In Twisted:
///
/// ```python
/// class Counting(LineReceiver):
///     def connectionMade(self):
///         self.factory.numProtocols += 1
///         self.sendLine(b"* Welcome! %d clients connected" % self.factory.numProtocols)
///     def connectionLost(self, reason):
///         self.factory.numProtocols -= 1
///     def lineReceived(self, line):
///         self.sendLine(b"* %d clients connected" % self.factory.numProtocols)
/// ```
/// Threading: one per connection, on the count's event loop.
final class CountingProtocol: ChannelInboundHandler {
    typealias InboundIn = TelnetLineHandler.Input
    typealias OutboundOut = ByteBuffer

    private let count: ConnectionCount

    init(count: ConnectionCount) {
        self.count = count
    }

    func channelActive(context: ChannelHandlerContext) {
        count.value += 1
        send("* Welcome! \(count.sentence)", context)
        context.flush()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        count.value -= 1  // NIO sends inactive only after active, once
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .line: send("* \(count.sentence)", context)
        case .lineTooLong(let maximum): send("! line too long (max \(maximum) bytes)", context)
        case .areYouThere: send("* yes, still here", context)
        case .reply, .received: break  // not asked for (TelnetLineHandler.Options)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    private func send(_ line: String, _ context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(ByteBuffer(string: line + "\r\n")), promise: nil)
    }
}

/// `counting --listen tcp:8002`: tells every client how many clients are connected.
@main
struct Counting: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Says how many clients are connected.")

    @Option(help: "Where to listen: tcp:PORT[:interface=ADDR] or unix:PATH.")
    var listen = "tcp:8002:interface=127.0.0.1"

    /// The factory, on one event loop: the listener and every connection share `loop`, which owns the count.
    static func bootstrap(loop: any EventLoop) -> ServerBootstrap {
        let count = NIOLoopBoundBox.makeBoxSendingValue(ConnectionCount(), eventLoop: loop)
        return ServerBootstrap(group: loop).childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let protocolHandler = CountingProtocol(count: count.value)  // traps if not on `loop`
                try channel.pipeline.syncOperations.addHandlers(TelnetLineHandler(), protocolHandler)
            }
        }
    }

    func run() async throws {
        let logger = Logger(label: "counting")
        let endpoint: Endpoint
        do { endpoint = try Endpoint(parsing: listen) } catch { throw ValidationError("\(error)") }
        let loop = MultiThreadedEventLoopGroup.singletonMultiThreadedEventLoopGroup.next()
        let listener: any Channel
        do {
            listener = try await Counting.bootstrap(loop: loop).bind(to: endpoint).get()
        } catch {
            logger.error("cannot listen on \(endpoint): \(error)")
            throw ExitCode.failure
        }
        logger.info("listening on \(endpoint)")
        try await listener.closeFuture.get()
    }
}
