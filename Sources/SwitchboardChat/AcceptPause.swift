import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sits on a listening channel and stops accepting for a while when accept(2) fails for lack of a
/// resource (descriptors: `EMFILE`/`ENFILE`; kernel memory: `ENOBUFS`/`ENOMEM`).
///
/// Such a failure repeats at once for as long as the shortage lasts, and NIO would retry it at once: when
/// the very first accept of a readable event fails, NIO keeps the listening socket registered for reads,
/// so the loop spins on accept(2) (100 % CPU) — NIO's own `AcceptBackoffHandler` postpones only the *next*
/// read request, which that path never makes. This handler switches the listener's `autoRead` off (which
/// unregisters the socket from epoll) and back on after ``pause``, so a shortage costs one failed accept
/// per pause:
///
/// ```
///  accept ✗ EMFILE ─▶ autoRead off ─ pause ─▶ autoRead on ─▶ accept ✗ ─▶ off ─ pause ─▶ … ─▶ accept ✓
///  log:  "cannot accept connections … pausing"                          "accepting connections again
///         (once, when the episode starts)                                after N failed accepts over T s"
/// ```
/// Connections wait in the listen backlog meanwhile. `ECONNABORTED` (a client that gave up before its
/// accept) is no shortage: it is logged at debug and accepting goes on.
///
/// Ownership: one per listening channel, used only on that channel's event loop.
final class AcceptPause: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    /// How long accepting stops after a failed accept.
    let pause: TimeAmount
    private let endpoint: String
    private let logger: Logger
    /// The shortage under way: when it began and how many accepts have failed in it.
    private var episode: (since: NIODeadline, failures: Int)?
    private var resume: Scheduled<Void>?

    init(pause: TimeAmount, endpoint: String, logger: Logger) {
        self.pause = pause
        self.endpoint = endpoint
        self.logger = logger
    }

    /// Failed accepts so far in the current shortage (0 when there is none).
    var failuresInEpisode: Int { episode?.failures ?? 0 }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let episode {
            self.episode = nil
            let seconds = Double((NIODeadline.now() - episode.since).nanoseconds) / 1e9
            logger.notice(
                "accepting connections again after \(episode.failures) failed accepts over \(String(format: "%.1f", seconds)) s",
                metadata: ["endpoint": "\(endpoint)", "failed-accepts": "\(episode.failures)"])
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let ioError = error as? IOError else {
            context.fireErrorCaught(error)
            return
        }
        guard AcceptPause.isShortage(ioError.errnoCode) else {
            // ECONNABORTED and the like: one connection's trouble, not the listener's.
            logger.debug("accept failed", metadata: ["endpoint": "\(endpoint)", "error": "\(ioError)"])
            return
        }
        if episode == nil {
            episode = (NIODeadline.now(), 0)
            logger.warning(
                "cannot accept connections; pausing accepts, trying again every \(pause.nanoseconds / 1_000_000) ms until it clears",
                metadata: ["endpoint": "\(endpoint)", "error": "\(ioError)"])
        }
        episode?.failures += 1
        guard resume == nil, let options = context.channel.syncOptions else { return }
        // Unregisters the listening socket from the selector: nothing more is tried until the pause is over.
        try? options.setOption(.autoRead, value: false)
        resume = context.eventLoop.assumeIsolated().scheduleTask(in: pause) {
            self.resume = nil
            try? options.setOption(.autoRead, value: true)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
        context.fireChannelInactive()
    }

    /// Whether accept(2) failed for lack of a resource, which lasts beyond this one call.
    static func isShortage(_ code: CInt) -> Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }
}

// Confined to its listening channel's event loop; see the type's documentation.
@available(*, unavailable)
extension AcceptPause: Sendable {}
