import ArgumentParser
import NIOCore
import NIOPosix

/// The part fan-out and paced share: connect the clients, start them all at once, wait until every
/// `BENCH` line reached every other client (or the deadline passes), and fill in the report.
enum FleetWorkload {
    /// Runs one workload and prints its report; throws `ExitCode.failure` after printing when the run
    /// was incomplete, so scripts see both the numbers and the failure.
    ///
    /// - Parameters:
    ///   - linesPerClient: how many lines each client sends; each client expects the others' lines.
    ///   - start: called once per client on its loop, after the expectations are set, with the
    ///     index of the client and a common start time 20 ms ahead (`CLOCK_MONOTONIC` ns) for paced senders.
    static func run(
        report: inout BenchReport,
        options: TargetOptions,
        clients: Int,
        linesPerClient: Int,
        start: @escaping @Sendable (BenchClientHandler, _ index: Int, _ startNs: UInt64) -> Void
    ) throws {
        ProcessMetrics.raiseOpenFileLimit()
        let deadline = NIODeadline.now() + .nanoseconds(Int64(options.timeout * 1_000_000_000))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
        defer { try? group.syncShutdownGracefully() }

        let expectedPerClient = linesPerClient * (clients - 1)
        report.clients = clients
        report.messagesPerClient = linesPerClient
        report.expectedDeliveries = clients * expectedPerClient

        let fleet: ClientFleet
        do {
            fleet = try ClientFleet.connect(count: clients, options: options, group: group, deadline: deadline)
        } catch {
            report.fail(error)
            report.emit(json: options.json)
            throw ExitCode.failure
        }
        defer { fleet.closeAll() }

        let wallStart = MonotonicClock.now()
        let cpuStart = ProcessMetrics.cpuSeconds()
        let startNs = wallStart + 20_000_000
        fleet.forEachHandler { handler, index in
            handler.expect(deliveries: expectedPerClient)
            start(handler, index, startNs)
        }
        do {
            try fleet.allDone(on: group.next()).wait(until: deadline, phase: "waiting for deliveries")
        } catch {
            report.fail(error)
        }
        report.setTiming(
            wallSeconds: Double(MonotonicClock.now() - wallStart) / 1e9,
            cpuSeconds: ProcessMetrics.cpuSeconds() - cpuStart
        )

        let totals = try fleet.snapshot()
        report.linesSent = totals.linesSent
        report.deliveries = totals.deliveries
        report.allDelivered = totals.deliveries >= clients * expectedPerClient
        if report.ok, report.allDelivered == false {
            report.fail(BenchError.incomplete("a client closed before all deliveries arrived"))
        }
        if totals.lastDeliveryNs > totals.firstSendNs, totals.firstSendNs != .max {
            report.deliveriesPerSecond =
                Double(totals.deliveries) / (Double(totals.lastDeliveryNs - totals.firstSendNs) / 1e9)
        }
        if report.rate != nil, totals.lastSendNs > totals.firstSendNs, totals.linesSent > 1 {
            report.achievedRate = Double(totals.linesSent - 1) / (Double(totals.lastSendNs - totals.firstSendNs) / 1e9)
        }
        report.setLatency(LatencySummary(totals.latencies))
        report.emit(json: options.json)
        if !report.ok { throw ExitCode.failure }
    }
}
