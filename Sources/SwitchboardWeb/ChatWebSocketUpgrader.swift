import NIOCore
import NIOHTTP1
import NIOWebSocket

/// `/chat`'s WebSocket upgrade: NIO's handshake (`NIOWebSocketServerUpgrader` checks the request, asks
/// `shouldUpgrade`, and answers `101` with the `Sec-WebSocket-Accept` key), then a pipeline of our own.
///
/// ```
///  socket ─▶ ByteToMessageHandler(WebSocketFrameDecoder, frames ≤ maxFrameSize) ─▶ [addChat: adapter, session]
///  socket ◀─────────────────────────────── bytes: the session's frames, the adapter's control frames ◀─┘
/// ```
/// NIO's own upgrade also adds a `WebSocketFrameEncoder`, which takes `WebSocketFrame`s only and cannot be
/// removed; the chat's session writes finished frames (broadcast lines as slices of one shared buffer of frames
/// per tick), so this pipeline has no encoder: ``WebSocketLineAdapter`` passes the session's frames through and
/// encodes the control frames itself, and answers the decoder's errors with their close codes (what NIO's
/// `automaticErrorHandling` would).
///
/// Built per connection; used on that connection's event loop.
final class ChatWebSocketUpgrader: HTTPServerProtocolUpgrader {
    private let handshake: NIOWebSocketServerUpgrader
    private let maxFrameSize: Int
    private let addChat: (any Channel) throws -> Void

    var supportedProtocol: String { handshake.supportedProtocol }
    var requiredUpgradeHeaders: [String] { handshake.requiredUpgradeHeaders }

    /// `maxFrameSize`: the largest frame payload the decoder reads (a larger one is refused before its payload
    /// is read). `addChat` adds the handlers behind the decoder once the `101` has gone out.
    init(
        maxFrameSize: Int,
        shouldUpgrade: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>,
        addChat: @escaping (any Channel) throws -> Void
    ) {
        self.maxFrameSize = maxFrameSize
        self.addChat = addChat
        self.handshake = NIOWebSocketServerUpgrader(
            maxFrameSize: maxFrameSize, automaticErrorHandling: false, shouldUpgrade: shouldUpgrade,
            // Never called: `upgrade(context:upgradeRequest:)` below builds the pipeline instead of NIO's.
            upgradePipelineHandler: { channel, _ in channel.eventLoop.makeSucceededVoidFuture() })
    }

    func buildUpgradeResponse(
        channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        handshake.buildUpgradeResponse(
            channel: channel, upgradeRequest: upgradeRequest, initialResponseHeaders: initialResponseHeaders)
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        let channel = context.channel
        let maxFrameSize = self.maxFrameSize
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrameSize)))
            try addChat(channel)
        }
    }
}

@available(*, unavailable)
extension ChatWebSocketUpgrader: Sendable {}
