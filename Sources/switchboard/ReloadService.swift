import ServiceLifecycle
import UnixSignals

/// Runs `reload` for every SIGHUP until graceful shutdown: the operator's "pick up what changed" (`systemctl
/// reload`, `kill -HUP`). Reloads run one at a time, in the order the signals came; signals that arrive
/// during one are coalesced by the kernel into at most one more.
struct ReloadService: Service, CustomStringConvertible {
    /// Created before the server listens, so a SIGHUP that early is not the default action (exit).
    let signals: UnixSignalsSequence
    let reload: @Sendable () async -> Void

    var description: String { "ReloadService" }

    func run() async {
        for await _ in signals.cancelOnGracefulShutdown() {
            await reload()
        }
    }
}
