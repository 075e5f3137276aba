import Dispatch
import NIOConcurrencyHelpers
import NIOCore

extension EventLoopFuture {
    /// This future, or a failure with ``ShutdownTimeout`` if `deadline` passes first.
    func withDeadline(_ deadline: NIODeadline, on loop: any EventLoop) -> EventLoopFuture<Value> where Value: Sendable {
        let promise = loop.makePromise(of: Value.self)
        let timer = loop.scheduleTask(deadline: deadline) { promise.fail(ShutdownTimeout()) }
        self.whenComplete { result in
            timer.cancel()
            promise.completeWith(result)
        }
        return promise.futureResult
    }
}

extension ChatServer {
    /// Runs `body` until it finishes or `deadline` passes on a timer that no event loop drives; returns
    /// whether it finished. A body still running at the deadline is left to run (the process is exiting).
    static func run(until deadline: NIODeadline, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let resumed = NIOLockedValueBox(false)
            let resume: @Sendable (Bool) -> Void = { finished in
                let first = resumed.withLockedValue { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: finished) }
            }
            Task {
                await body()
                resume(true)
            }
            let remaining = max(deadline - NIODeadline.now(), .zero)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(remaining.nanoseconds))) {
                resume(false)
            }
        }
    }
}

/// A shutdown step did not finish within `--shutdown-timeout`.
struct ShutdownTimeout: Error {}
