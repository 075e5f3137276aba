import NIOCore

extension EventLoopFuture {
    /// Blocks the calling (non-event-loop) thread until the future completes or `deadline` passes.
    ///
    /// The timer runs on the future's own loop, so this never needs a second thread. Throws
    /// ``BenchError/timedOut(phase:)`` naming `phase` when the deadline wins; the future itself keeps
    /// running and its result is simply ignored.
    func wait(until deadline: NIODeadline, phase: String) throws -> Value where Value: Sendable {
        let promise = self.eventLoop.makePromise(of: Value.self)
        let timer = self.eventLoop.scheduleTask(deadline: deadline) {
            promise.fail(BenchError.timedOut(phase: phase))
        }
        self.cascade(to: promise)
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return try promise.futureResult.wait()
    }
}
