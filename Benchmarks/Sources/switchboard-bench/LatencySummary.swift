import Histogram

/// p50, p99 and max of a latency histogram recorded in nanoseconds, reported in microseconds.
struct LatencySummary: Sendable, Equatable {
    var samples: UInt64
    var p50Us: Double
    var p99Us: Double
    var maxUs: Double

    init(_ histogram: Histogram<UInt64>) {
        self.samples = histogram.totalCount
        guard histogram.totalCount > 0 else {
            self.p50Us = 0
            self.p99Us = 0
            self.maxUs = 0
            return
        }
        self.p50Us = Double(histogram.valueAtPercentile(50)) / 1000
        self.p99Us = Double(histogram.valueAtPercentile(99)) / 1000
        self.maxUs = Double(histogram.max) / 1000
    }

    /// An empty histogram for latencies in nanoseconds, 3 significant digits, up to
    /// ``highestLatencyNs`` (longer values are recorded as that).
    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: Self.highestLatencyNs,
                          numberOfSignificantValueDigits: .three)
    }

    /// Ten minutes: far beyond any bounded run.
    static let highestLatencyNs: UInt64 = 600_000_000_000

    /// `p50 1.2 ms p99 3.4 ms max 5.6 ms` with units picked per value.
    var text: String {
        "p50 \(Self.format(self.p50Us)) p99 \(Self.format(self.p99Us)) max \(Self.format(self.maxUs))"
    }

    static func format(_ microseconds: Double) -> String {
        if microseconds >= 1_000_000 { return "\(Self.rounded(microseconds / 1_000_000)) s" }
        if microseconds >= 1000 { return "\(Self.rounded(microseconds / 1000)) ms" }
        return "\(Self.rounded(microseconds)) µs"
    }

    /// Three significant-ish digits without Foundation's formatters.
    static func rounded(_ value: Double) -> String {
        let scale: Double = value >= 100 ? 1 : (value >= 10 ? 10 : 100)
        let result = (value * scale).rounded() / scale
        return scale == 1 ? String(Int(result)) : String(result)
    }
}
