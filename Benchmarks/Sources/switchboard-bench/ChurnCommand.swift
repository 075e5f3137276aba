import ArgumentParser
import NIOCore
import NIOPosix

/// `churn`: N short connection cycles (connect, read the welcome, `/quit`, see the close), K in flight.
///
/// Measures how fast the server accepts, welcomes and tears down connections, database writes
/// included, and the p99 of one cycle.
struct ChurnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "churn",
        abstract: "N cycles of connect → welcome → /quit → close, K in flight; report connections/s."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Total connection cycles.")
    var connections = 2000

    @Option(help: "Cycles in flight at once.")
    var concurrency = 50

    func validate() throws {
        guard self.connections >= 1, self.concurrency >= 1 else {
            throw ValidationError("--connections and --concurrency must be at least 1")
        }
    }

    func run() throws {
        ProcessMetrics.raiseOpenFileLimit()
        var report = BenchReport(mode: "churn", options: self.target)
        report.connections = self.connections
        report.concurrency = self.concurrency
        let deadline = NIODeadline.now() + .nanoseconds(Int64(self.target.timeout * 1_000_000_000))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.target.threads)
        defer { try? group.syncShutdownGracefully() }

        // Split cycles and workers evenly over the loops; each loop's lane is independent.
        let loops = Array(group.makeIterator())
        let host = self.target.host
        let port = self.target.port
        var lanes: [(lane: NIOLoopBound<ChurnLane>, finished: EventLoopFuture<Void>, workers: Int)] = []
        for (index, loop) in loops.enumerated() {
            let cycles = self.connections / loops.count + (index < self.connections % loops.count ? 1 : 0)
            let workers = self.concurrency / loops.count + (index < self.concurrency % loops.count ? 1 : 0)
            guard cycles > 0 else { continue }
            let made = try loop.submit {
                let lane = ChurnLane(eventLoop: loop, host: host, port: port, cycles: cycles)
                return (NIOLoopBound(lane, eventLoop: loop), lane.finished.futureResult)
            }.wait()
            lanes.append((made.0, made.1, max(1, workers)))
        }

        let wallStart = MonotonicClock.now()
        let cpuStart = ProcessMetrics.cpuSeconds()
        for entry in lanes {
            let lane = entry.lane
            let workers = entry.workers
            lane.eventLoop.execute { lane.value.start(workers: workers) }
        }
        do {
            try EventLoopFuture.andAllSucceed(lanes.map(\.finished), on: loops[0])
                .wait(until: deadline, phase: "running churn cycles")
        } catch {
            report.fail(error)
        }
        let wallSeconds = Double(MonotonicClock.now() - wallStart) / 1e9
        report.setTiming(wallSeconds: wallSeconds, cpuSeconds: ProcessMetrics.cpuSeconds() - cpuStart)

        var totals = ChurnLane.Snapshot()
        for entry in lanes {
            let lane = entry.lane
            totals.merge(try lane.eventLoop.submit { lane.value.snapshot }.wait())
        }
        report.completed = totals.completed
        report.failed = totals.failed
        report.connectionsPerSecond = Double(totals.completed) / wallSeconds
        report.setLatency(LatencySummary(totals.cycleLatencies))
        if report.ok, totals.failed > 0 {
            report.fail(BenchError.incomplete("\(totals.failed) cycles failed, first: \(totals.firstError ?? "?")"))
        }
        report.emit(json: self.target.json)
        if !report.ok { throw ExitCode.failure }
    }
}
