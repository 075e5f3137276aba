import ArgumentParser

/// `paced`: the clients together send a fixed number of lines per second, spread evenly in time and
/// over clients; reports delivery latency at that load (not throughput).
///
/// Client i sends its line n at `start + i/R + n·C/R`, so the whole fleet emits one line every 1/R s.
/// The embedded send time is the time a line was due, so a late sender counts as latency.
struct PacedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paced",
        abstract: "Send at a fixed total rate spread over the clients; report delivery latency."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Connected clients.")
    var clients = 50

    @Option(help: "Total lines per second over all clients.")
    var rate = 2000.0

    @Option(help: "Seconds of sending (each client sends rate × duration / clients lines).")
    var duration = 5.0

    func validate() throws {
        guard self.clients >= 2 else { throw ValidationError("--clients must be at least 2") }
        guard self.rate > 0, self.duration > 0 else { throw ValidationError("--rate and --duration must be positive") }
        guard self.duration < self.target.timeout else {
            throw ValidationError("--duration must be shorter than --timeout")
        }
    }

    func run() throws {
        var report = BenchReport(mode: "paced", options: self.target)
        report.rate = self.rate
        let clients = self.clients
        let linesPerClient = max(1, Int((self.rate * self.duration / Double(clients)).rounded()))
        let intervalNs = UInt64(1e9 * Double(clients) / self.rate)
        let staggerNs = UInt64(1e9 / self.rate)
        try FleetWorkload.run(
            report: &report, options: self.target, clients: clients, linesPerClient: linesPerClient
        ) { handler, index, startNs in
            handler.startPaced(
                lines: linesPerClient, startNs: startNs + UInt64(index) * staggerNs, intervalNs: intervalNs
            )
        }
    }
}
