import Logging
import NIOCore
import NIOTLS
import SwitchboardProtocol

/// Keeps a connection's front door (``FrontDoor``): waits for its PROXY header and its TLS handshake, each
/// within its time limit, and then tells ``ChatSession`` (``FrontDoorOpened``) and leaves the pipeline.
///
/// ```
///   accept ──▶ PROXY header (≤ 3 s) ──▶ TLS handshake (≤ --tls-handshake-timeout) ──▶ FrontDoorOpened
///                 │                        │
///                 └── malformed, late, or the client left: counted (FrontDoorCounters), logged at
///                     debug level, closed. The session, admitted at the accept, is withdrawn.
/// ```
/// Errors before the door opens stop here, so a scanner's garbage costs a counter and a debug line, never
/// a warning. Sits right before ``ChatSession``, after the TLS handler (whose handshake event it watches).
///
/// Ownership: one per connection, used only on its channel's event loop.
final class FrontDoorHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private enum Stage {
        case proxyHeader
        case tlsHandshake
        case open
        case failed
    }

    private let door: FrontDoor
    private let handshakeTimeout: TimeAmount
    private let counters: FrontDoorCounters
    private let logger: Logger
    private var stage: Stage
    private var client: SocketAddress?
    private var timer: Scheduled<Void>?

    init(door: FrontDoor, handshakeTimeout: TimeAmount, counters: FrontDoorCounters, logger: Logger) {
        precondition(door != .none, "plain telnet has no front door")
        self.door = door
        self.handshakeTimeout = handshakeTimeout
        self.counters = counters
        self.logger = logger
        self.stage = door.proxyHeader ? .proxyHeader : .tlsHandshake
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let received = event as? ProxyHeaderReceived, stage == .proxyHeader {
            client = received.header.source
            stage = door.tls ? .tlsHandshake : .open
            startTimer(context: context)
        } else if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls, stage == .tlsHandshake {
            stage = .open
        } else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard stage == .open else { return }
        timer?.cancel()
        timer = nil
        context.fireUserInboundEventTriggered(FrontDoorOpened(client: client))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch stage {
        case .open: context.fireErrorCaught(error)
        case .failed: break
        case .proxyHeader, .tlsHandshake: fail(context: context, because: "\(error)")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client went away before the door opened (the TLS handler reports an EOF in a handshake as an
        // error first, so this is mostly the PROXY stage).
        if stage == .proxyHeader || stage == .tlsHandshake {
            fail(context: context, because: "connection closed")
        }
        context.fireChannelInactive()
    }

    private func startTimer(context: ChannelHandlerContext) {
        timer?.cancel()
        let limit = stage == .proxyHeader ? FrontDoor.proxyHeaderTimeout : handshakeTimeout
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: limit) { [self] in
            timer = nil
            fail(context: context, because: "timed out after \(limit.nanoseconds / 1_000_000) ms", timedOut: true)
        }
    }

    private func fail(context: ChannelHandlerContext, because reason: String, timedOut: Bool = false) {
        let failedStage = stage
        stage = .failed
        timer?.cancel()
        timer = nil
        counters.count { counts in
            switch (failedStage, timedOut) {
            case (.proxyHeader, _): counts.proxyHeadersRefused += 1
            case (_, true): counts.tlsHandshakesTimedOut += 1
            default: counts.tlsHandshakesFailed += 1
            }
        }
        logger.debug(
            failedStage == .proxyHeader ? "PROXY header refused" : "TLS handshake failed",
            metadata: ["peer": "\(context.channel.remoteAddress?.displayString ?? "?")", "reason": "\(reason)"])
        context.close(promise: nil)
    }
}

// Confined to its channel's event loop.
@available(*, unavailable)
extension FrontDoorHandler: Sendable {}
