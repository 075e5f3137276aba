import Foundation

/// The result of one run, printed either as one JSON object line (`--json`, for scripts) or as one
/// short human line. Fields a mode does not produce stay `nil` and are left out of the JSON.
///
/// `wallSeconds` and `toolCpuSeconds` cover the measured phase only; when the tool's CPU time is
/// close to the wall time, the tool (not the server) was the bottleneck.
struct BenchReport: Encodable, Sendable {
    var mode: String
    var ok = true
    var error: String?
    var host: String
    var port: Int
    var threads: Int

    var wallSeconds = 0.0
    var toolCpuSeconds = 0.0
    var toolCpuPercent = 0.0

    var clients: Int?
    var messagesPerClient: Int?
    var rate: Double?
    var achievedRate: Double?
    var linesSent: Int?
    var deliveries: Int?
    var expectedDeliveries: Int?
    var allDelivered: Bool?
    var deliveriesPerSecond: Double?

    var latencySamples: UInt64?
    var latencyP50Us: Double?
    var latencyP99Us: Double?
    var latencyMaxUs: Double?

    var connections: Int?
    var concurrency: Int?
    var completed: Int?
    var failed: Int?
    var connectionsPerSecond: Double?

    var connected: Int?
    var rssBeforeKib: UInt64?
    var rssAfterKib: UInt64?
    var rssPerConnectionBytes: Double?
    var rssPerConnectionKib: Double?

    init(mode: String, options: TargetOptions) {
        self.mode = mode
        self.host = options.host
        self.port = options.port
        self.threads = options.threads
    }

    /// Records the measured phase's wall and CPU time.
    mutating func setTiming(wallSeconds: Double, cpuSeconds: Double) {
        self.wallSeconds = wallSeconds
        self.toolCpuSeconds = cpuSeconds
        self.toolCpuPercent = wallSeconds > 0 ? cpuSeconds / wallSeconds * 100 : 0
    }

    mutating func setLatency(_ summary: LatencySummary) {
        self.latencySamples = summary.samples
        self.latencyP50Us = summary.p50Us
        self.latencyP99Us = summary.p99Us
        self.latencyMaxUs = summary.maxUs
    }

    /// Marks the run failed with `error`'s one-line description.
    mutating func fail(_ error: Error) {
        self.ok = false
        self.error = "\(error)"
    }

    /// Writes the report to stdout in the chosen form, unbuffered (`print` is block-buffered on a pipe).
    func emit(json: Bool) {
        var line: Data
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            line = (try? encoder.encode(self)) ?? Data("{\"ok\":false}".utf8)
        } else {
            line = Data(self.humanLine.utf8)
        }
        line.append(UInt8(ascii: "\n"))
        FileHandle.standardOutput.write(line)
    }

    /// One line a person can read at a glance.
    var humanLine: String {
        var parts: [String] = [self.mode]
        switch self.mode {
        case "fanout", "paced":
            if let clients, let messagesPerClient { parts.append("\(clients) clients × \(messagesPerClient) lines") }
            if let rate { parts.append("target \(Self.number(rate)) lines/s, achieved \(Self.number(achievedRate ?? 0))") }
            if let deliveries, let expectedDeliveries {
                parts.append("\(deliveries)/\(expectedDeliveries) deliveries\(allDelivered == true ? "" : " (INCOMPLETE)")")
            }
            if let deliveriesPerSecond { parts.append("\(Self.number(deliveriesPerSecond)) deliveries/s") }
        case "churn":
            if let connections, let concurrency { parts.append("\(connections) cycles, \(concurrency) in flight") }
            if let completed, let failed { parts.append("\(completed) completed, \(failed) failed") }
            if let connectionsPerSecond { parts.append("\(Self.number(connectionsPerSecond)) connections/s") }
        case "hold":
            if let connections, let connected { parts.append("\(connected)/\(connections) idle connections") }
            if let rssBeforeKib, let rssAfterKib { parts.append("server RSS \(rssBeforeKib) KiB → \(rssAfterKib) KiB") }
            if let rssPerConnectionKib, let rssPerConnectionBytes {
                parts.append("\(LatencySummary.rounded(rssPerConnectionKib)) KiB (\(Int(rssPerConnectionBytes)) B) per connection")
            }
        default:
            break
        }
        if let latencySamples, latencySamples > 0, let latencyP50Us, let latencyP99Us, let latencyMaxUs {
            let summary = "p50 \(LatencySummary.format(latencyP50Us)) p99 \(LatencySummary.format(latencyP99Us))"
                + " max \(LatencySummary.format(latencyMaxUs))"
            parts.append((self.mode == "churn" ? "cycle " : "latency ") + summary)
        }
        parts.append(
            "tool CPU \(LatencySummary.rounded(self.toolCpuSeconds)) s of \(LatencySummary.rounded(self.wallSeconds)) s wall"
                + " (\(Int(self.toolCpuPercent.rounded()))%)"
        )
        if let error { parts.append("ERROR: \(error)") }
        return parts.joined(separator: "; ")
    }

    private static func number(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : LatencySummary.rounded(value)
    }
}
