import ServiceLifecycle
import NIOConcurrencyHelpers
import SwitchboardChat

/// Keeps systemd told (``SystemdNotifier``): `READY=1` once the server listens, `STATUS=` every
/// ``statusInterval`` with the client count, `STOPPING=1` when graceful shutdown begins. Listed last in the
/// service group, so it is the first to hear of the shutdown. Reloads are announced by ``reloading()`` and
/// ``reloaded()`` from the SIGHUP handler.
struct SystemdService: Service, CustomStringConvertible {
    let notifier: SystemdNotifier
    let server: ChatServer

    /// How often `STATUS=` is refreshed.
    static let statusInterval: Duration = .seconds(10)

    var description: String { "SystemdService(\(notifier.path))" }

    func run() async {
        guard await listening() else { return }  // the start failed; the server says why
        await reloaded()
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: SystemdService.statusInterval)
                if let status = await server.status() { notifier.notify(["STATUS": "\(status)"]) }
            }
        }
        notifier.notify(["STOPPING": "1", "STATUS": "stopping"])
    }

    /// `RELOADING=1`: a reload begins.
    func reloading() {
        notifier.notify(["RELOADING": "1", "MONOTONIC_USEC": "\(SystemdNotifier.monotonicMicroseconds())"])
    }

    /// `READY=1` with the status: started, or a reload done.
    func reloaded() async {
        let status = await server.status().map { "\($0)" } ?? "ready"
        notifier.notify(["READY": "1", "STATUS": status])
    }

    /// Whether the server came to listen (false: it stopped first, or the task was cancelled).
    private func listening() async -> Bool {
        let once = OnceFlag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                once.set(continuation)
                server.whenListening { once.resume($0) }
            }
        } onCancel: {
            once.resume(false)
        }
    }
}

/// A continuation resumed at most once, by whichever comes first. Thread-safe (a lock).
private final class OnceFlag: Sendable {
    private let state = NIOLockedValueBox<(continuation: CheckedContinuation<Bool, Never>?, result: Bool?)>((nil, nil))

    func set(_ continuation: CheckedContinuation<Bool, Never>) {
        let early = state.withLockedValue { state -> Bool? in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    func resume(_ result: Bool) {
        let continuation = state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: result)
    }
}
