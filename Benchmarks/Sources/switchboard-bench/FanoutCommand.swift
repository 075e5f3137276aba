import ArgumentParser

/// `fanout`: every client sends M lines as fast as it can; every other client must receive each one.
///
/// Measures the server's broadcast throughput (deliveries/s from the first send to the last delivery)
/// and the latency of each delivery. Expected deliveries: C × M × (C − 1).
struct FanoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "C clients each send M lines at once, as fast as possible; count and time every delivery."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Connected clients (each sends and receives).")
    var clients = 50

    @Option(help: "Lines each client sends.")
    var messages = 200

    @Option(help: "Lines written per flush.")
    var batch = 64

    func validate() throws {
        guard self.clients >= 2 else { throw ValidationError("--clients must be at least 2 (someone must listen)") }
        guard self.messages >= 1 else { throw ValidationError("--messages must be at least 1") }
    }

    func run() throws {
        var report = BenchReport(mode: "fanout", options: self.target)
        let messages = self.messages
        let batch = self.batch
        try FleetWorkload.run(
            report: &report, options: self.target, clients: self.clients, linesPerClient: messages
        ) { handler, _, _ in
            handler.startBurst(lines: messages, batch: batch)
        }
    }
}
