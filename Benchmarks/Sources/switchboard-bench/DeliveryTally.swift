import Histogram

/// What the clients of one event loop have sent and received. Owned by that loop: only handlers on
/// it touch it, and the command reads it by submitting a task to the loop (``snapshot``).
///
/// One per loop instead of one per client keeps thousands of idle clients cheap (a histogram is
/// about 200 KiB) and needs no locks.
final class DeliveryTally {
    /// Receive time minus embedded send time, in nanoseconds.
    private(set) var latencies = LatencySummary.makeHistogram()
    /// Lines containing `BENCH ` received by all clients of this loop.
    var deliveries = 0
    /// `BENCH` lines sent by all clients of this loop.
    var linesSent = 0
    /// Clients of this loop that read their first line.
    var welcomed = 0
    /// Earliest send and latest `BENCH` receive on this loop (`CLOCK_MONOTONIC` ns).
    var firstSendNs = UInt64.max
    var lastSendNs: UInt64 = 0
    var lastDeliveryNs: UInt64 = 0

    init() {}

    func recordDelivery(receivedAtNs: UInt64, sendTimeNs: UInt64?) {
        self.deliveries += 1
        self.lastDeliveryNs = max(self.lastDeliveryNs, receivedAtNs)
        if let sendTimeNs, receivedAtNs >= sendTimeNs {
            _ = self.latencies.record(min(receivedAtNs - sendTimeNs, LatencySummary.highestLatencyNs))
        }
    }

    /// Records `lines` lines handed to the channel at `atNs`.
    func recordSend(lines: Int, atNs: UInt64) {
        self.linesSent += lines
        self.firstSendNs = min(self.firstSendNs, atNs)
        self.lastSendNs = max(self.lastSendNs, atNs)
    }

    /// A copy that can leave the loop.
    var snapshot: Snapshot {
        Snapshot(
            latencies: self.latencies,
            deliveries: self.deliveries,
            linesSent: self.linesSent,
            welcomed: self.welcomed,
            firstSendNs: self.firstSendNs,
            lastSendNs: self.lastSendNs,
            lastDeliveryNs: self.lastDeliveryNs
        )
    }

    /// The tally's values at one moment; several loops' snapshots merge into one.
    struct Snapshot: Sendable {
        var latencies: Histogram<UInt64>
        var deliveries: Int
        var linesSent: Int
        var welcomed: Int
        var firstSendNs: UInt64
        var lastSendNs: UInt64
        var lastDeliveryNs: UInt64

        static var empty: Snapshot { DeliveryTally().snapshot }

        mutating func merge(_ other: Snapshot) {
            self.latencies.add(other.latencies)
            self.deliveries += other.deliveries
            self.linesSent += other.linesSent
            self.welcomed += other.welcomed
            self.firstSendNs = min(self.firstSendNs, other.firstSendNs)
            self.lastSendNs = max(self.lastSendNs, other.lastSendNs)
            self.lastDeliveryNs = max(self.lastDeliveryNs, other.lastDeliveryNs)
        }
    }
}

@available(*, unavailable)
extension DeliveryTally: Sendable {}
