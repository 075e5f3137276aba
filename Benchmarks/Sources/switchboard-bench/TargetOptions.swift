import ArgumentParser

/// Options every mode shares: where the server is, how the tool runs, how it reports.
struct TargetOptions: ParsableArguments {
    @Option(help: "Server address (loopback only in this project's runs).")
    var host = "127.0.0.1"

    @Option(help: "Server TCP port.")
    var port: Int

    @Option(help: "Event loop threads of the tool. 1 leaves the other core to the server on a 2-core box.")
    var threads = 1

    @Option(help: "Overall bound in seconds; past it the tool reports what it has and exits non-zero.")
    var timeout: Double = 60

    @Option(help: "Connections opened at once while setting up (keeps small listen backlogs from overflowing).")
    var connectConcurrency = 64

    @Flag(help: "Print one JSON object line of results instead of a human line.")
    var json = false

    func validate() throws {
        guard (1...65535).contains(self.port) else { throw ValidationError("--port must be 1…65535") }
        guard self.threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard self.timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard self.connectConcurrency >= 1 else { throw ValidationError("--connect-concurrency must be at least 1") }
    }
}
