import Histogram
import NIOCore
import NIOPosix

/// The churn cycles of one event loop: keeps `workers` cycles in flight until `remaining` reaches
/// zero, then completes ``finished``. Owned by its loop; the command reads it via `submit`.
///
/// A cycle is: connect → read the first line → send `/quit` → see the server close. Its latency runs
/// from the connect call to the close.
final class ChurnLane {
    /// Succeeds when every cycle of this lane has ended, well or badly.
    let finished: EventLoopPromise<Void>

    private let eventLoop: EventLoop
    private let host: String
    private let port: Int
    private var remaining: Int
    private var inFlight = 0
    private var completed = 0
    private var failed = 0
    private var firstError: String?
    private var cycleLatencies = LatencySummary.makeHistogram()

    init(eventLoop: EventLoop, host: String, port: Int, cycles: Int) {
        self.eventLoop = eventLoop
        self.host = host
        self.port = port
        self.remaining = cycles
        self.finished = eventLoop.makePromise(of: Void.self)
    }

    /// Starts `workers` cycles at once; each finished cycle starts the next.
    func start(workers: Int) {
        for _ in 0..<max(1, workers) {
            self.startCycle()
        }
    }

    /// What the lane has done so far, safe to hand off the loop.
    var snapshot: Snapshot {
        Snapshot(completed: self.completed, failed: self.failed, firstError: self.firstError,
                 cycleLatencies: self.cycleLatencies)
    }

    /// Counts and cycle latencies (ns) of one or more lanes.
    struct Snapshot: Sendable {
        var completed = 0
        var failed = 0
        var firstError: String?
        var cycleLatencies = LatencySummary.makeHistogram()

        mutating func merge(_ other: Snapshot) {
            self.completed += other.completed
            self.failed += other.failed
            self.firstError = self.firstError ?? other.firstError
            self.cycleLatencies.add(other.cycleLatencies)
        }
    }

    private func startCycle() {
        guard self.remaining > 0 else {
            if self.inFlight == 0 { self.finished.succeed() }
            return
        }
        self.remaining -= 1
        self.inFlight += 1
        let startedNs = MonotonicClock.now()
        let cycle = self.eventLoop.makePromise(of: Void.self)
        ClientBootstrap(group: self.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ChurnCycleHandler(cycle: cycle))
                }
            }
            .connect(host: self.host, port: self.port)
            .whenFailure { cycle.fail($0) }
        cycle.futureResult.assumeIsolated().whenComplete { result in
            self.inFlight -= 1
            switch result {
            case .success:
                self.completed += 1
                let elapsed = MonotonicClock.now() - startedNs
                _ = self.cycleLatencies.record(min(elapsed, LatencySummary.highestLatencyNs))
            case .failure(let error):
                self.failed += 1
                if self.firstError == nil { self.firstError = "\(error)" }
            }
            self.startCycle()
        }
    }
}

@available(*, unavailable)
extension ChurnLane: Sendable {}
