import ArgumentParser
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `hold`: opens N idle connections and reports how much the server's resident memory grew per
/// connection (`VmRSS` of `--pid` from `/proc`, read before connecting and after every welcome).
///
/// The figure includes whatever the server allocates per visitor (buffers, session state, database
/// rows queued); allocator slack makes it approximate, so use thousands of connections.
struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Open N idle connections; report the server's RSS growth per connection."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Idle connections to open.")
    var connections = 10000

    @Option(help: "Process id of the server, whose /proc/PID/status VmRSS is read.")
    var pid: Int32

    @Option(help: "Seconds to wait after the last welcome before reading RSS (lets queued work settle).")
    var settle = 1.0

    func validate() throws {
        guard self.connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        guard self.settle >= 0, self.settle < self.target.timeout else {
            throw ValidationError("--settle must be ≥ 0 and shorter than --timeout")
        }
    }

    func run() throws {
        let limit = ProcessMetrics.raiseOpenFileLimit()
        var report = BenchReport(mode: "hold", options: self.target)
        report.connections = self.connections
        guard let before = ProcessMetrics.residentKiB(pid: self.pid) else {
            report.fail(BenchError.invalidOptions("cannot read VmRSS of pid \(self.pid) from /proc"))
            report.emit(json: self.target.json)
            throw ExitCode.failure
        }
        if UInt64(self.connections) + 64 > limit {
            report.fail(BenchError.invalidOptions("\(self.connections) connections exceed the open-file limit \(limit)"))
            report.emit(json: self.target.json)
            throw ExitCode.failure
        }
        report.rssBeforeKib = before

        let deadline = NIODeadline.now() + .nanoseconds(Int64(self.target.timeout * 1_000_000_000))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.target.threads)
        defer { try? group.syncShutdownGracefully() }

        let wallStart = MonotonicClock.now()
        let cpuStart = ProcessMetrics.cpuSeconds()
        let fleet: ClientFleet
        do {
            fleet = try ClientFleet.connect(
                count: self.connections, options: self.target, group: group, deadline: deadline
            )
        } catch {
            report.fail(error)
            report.emit(json: self.target.json)
            throw ExitCode.failure
        }
        defer { fleet.closeAll() }
        report.setTiming(
            wallSeconds: Double(MonotonicClock.now() - wallStart) / 1e9,
            cpuSeconds: ProcessMetrics.cpuSeconds() - cpuStart
        )
        report.connected = fleet.clients.count

        if self.settle > 0 { usleep(UInt32(self.settle * 1_000_000)) }
        guard let after = ProcessMetrics.residentKiB(pid: self.pid) else {
            report.fail(BenchError.incomplete("the server (pid \(self.pid)) is gone"))
            report.emit(json: self.target.json)
            throw ExitCode.failure
        }
        report.rssAfterKib = after
        let grownBytes = (Double(after) - Double(before)) * 1024
        report.rssPerConnectionBytes = grownBytes / Double(self.connections)
        report.rssPerConnectionKib = grownBytes / 1024 / Double(self.connections)
        report.emit(json: self.target.json)
    }
}
