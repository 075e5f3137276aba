import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import SwitchboardProtocol

/// One connection of `upper`: every line comes back in upper case. In Twisted:
///
/// ```python
/// class Upper(LineReceiver):
///     def lineReceived(self, line):
///         self.sendLine(line.upper())
/// ```
/// The telnet framing in front of it (`TelnetLineHandler`) hands it lines, never telnet bytes.
/// Threading: one per connection, on the connection's event loop.
final class UpperProtocol: ChannelInboundHandler {
    typealias InboundIn = TelnetLineHandler.Input
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply: String
        switch unwrapInboundIn(data) {
        case .line(let bytes): reply = String(decoding: bytes, as: UTF8.self).uppercased()
        case .lineTooLong(let maximum): reply = "! line too long (max \(maximum) bytes)"
        case .areYouThere: reply = "* yes, still here"
        case .reply, .received: return  // not asked for (TelnetLineHandler.Options)
        }
        context.write(wrapOutboundOut(ByteBuffer(string: reply + "\r\n")), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()  // one flush for every line of a read
    }
}

/// `upper --listen tcp:8001`: echoes every line in upper case.
@main
struct Upper: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Echoes every line in upper case.")

    @Option(help: "Where to listen: tcp:PORT[:interface=ADDR] or unix:PATH.")
    var listen = "tcp:8001:interface=127.0.0.1"

    /// The factory: each connection gets the telnet framing and an `UpperProtocol`. In Twisted:
    /// `Factory.forProtocol(Upper)`.
    static func bootstrap(group: any EventLoopGroup) -> ServerBootstrap {
        ServerBootstrap(group: group).childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers(TelnetLineHandler(), UpperProtocol())
            }
        }
    }

    func run() async throws {
        let logger = Logger(label: "upper")
        let endpoint: Endpoint
        do { endpoint = try Endpoint(parsing: listen) } catch { throw ValidationError("\(error)") }
        let listener: any Channel
        do {
            listener = try await Upper.bootstrap(group: .singletonMultiThreadedEventLoopGroup).bind(to: endpoint).get()
        } catch {
            logger.error("cannot listen on \(endpoint): \(error)")
            throw ExitCode.failure
        }
        logger.info("listening on \(endpoint)")
        try await listener.closeFuture.get()
    }
}
