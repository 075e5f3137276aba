import NIOCore

/// Drives one churn cycle on an open connection: on the first line it sends `/quit`, and the cycle
/// succeeds when the server closes the connection.
///
/// ```
/// server → client:  * welcome\r\n
/// client → server:  /quit\r\n
/// server:           close            → `cycle` succeeds
/// ```
///
/// Lives on its channel's event loop.
final class ChurnCycleHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let cycle: EventLoopPromise<Void>
    private var sentQuit = false

    init(cycle: EventLoopPromise<Void>) {
        self.cycle = cycle
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        guard !self.sentQuit, buffer.readableBytesView.contains(UInt8(ascii: "\n")) else { return }
        self.sentQuit = true
        var quit = context.channel.allocator.buffer(capacity: 7)
        quit.writeStaticString("/quit\r\n")
        context.writeAndFlush(self.wrapOutboundOut(quit), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.sentQuit {
            self.cycle.succeed()
        } else {
            self.cycle.fail(BenchError.closedBeforeWelcome)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Reached even when channelInactive is not (a connect that failed): never leak the promise.
        self.cycle.fail(BenchError.closedBeforeWelcome)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A reset after /quit still ends the cycle (channelInactive decides how); other errors fail it.
        if !self.sentQuit { self.cycle.fail(error) }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ChurnCycleHandler: Sendable {}
