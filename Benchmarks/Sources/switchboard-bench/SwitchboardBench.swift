import ArgumentParser

/// `switchboard-bench`: a load generator for any line-based chat server (see Benchmarks/README.md).
@main
struct SwitchboardBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-bench",
        abstract: "Load generator for line chat servers: fan-out, paced latency, connection churn, idle memory.",
        subcommands: [FanoutCommand.self, PacedCommand.self, ChurnCommand.self, HoldCommand.self]
    )
}
