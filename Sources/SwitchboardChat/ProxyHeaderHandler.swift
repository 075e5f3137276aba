import NIOCore
import SwitchboardProtocol

/// Reads a connection's PROXY protocol header (v1 or v2) with a ``ProxyHeaderParser``, then steps aside.
///
/// ```
///   bytes ─▶ [ProxyHeaderHandler] ─▶ [NIOSSLServerHandler]? ─▶ [FrontDoorHandler] ─▶ [ChatSession]
///              │ header complete: ProxyHeaderReceived (user event), then the bytes after the header, then
///              │ this handler leaves the pipeline
///              └ not a header: ProxyHeaderError (errorCaught); FrontDoorHandler counts it and closes
/// ```
/// It holds at most ``ProxyHeaderParser/maximumV2Length`` bytes; the time limit is ``FrontDoorHandler``'s.
///
/// Ownership: one per connection, used only on its channel's event loop.
final class ProxyHeaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var parser = ProxyHeaderParser()
    private var finished = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else {
            // Only between a refused header and the close, or while this handler leaves the pipeline.
            context.fireChannelRead(data)
            return
        }
        var buffer = unwrapInboundIn(data)
        let outcome = buffer.withUnsafeReadableBytes { parser.feed($0) }
        switch outcome {
        case .needMoreData:
            return
        case .header(let header, let consumed):
            finished = true
            buffer.moveReaderIndex(forwardBy: consumed)
            context.fireUserInboundEventTriggered(ProxyHeaderReceived(header))
            if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        case .invalid(let error):
            finished = true
            context.fireErrorCaught(error)
        }
    }
}

// Confined to its channel's event loop.
@available(*, unavailable)
extension ProxyHeaderHandler: Sendable {}
