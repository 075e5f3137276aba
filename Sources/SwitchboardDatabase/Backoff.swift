import NIOCore

/// How long to wait before the next try after failures in a row: ``first``, doubling with each further
/// failure, never more than ``maximum``. The one backoff every retry loop uses (database reconnects,
/// history batches, the cluster link).
///
/// ```
///  failures:  1      2      3      4      5     …
///  delay:     first  ×2     ×4     ×8     ×16   … ≤ maximum
/// ```
public struct Backoff: Sendable, Equatable {
    public let first: TimeAmount
    public let maximum: TimeAmount

    public init(first: TimeAmount, maximum: TimeAmount) {
        precondition(first > .zero && maximum >= first, "a backoff starts above zero and grows to its maximum")
        self.first = first
        self.maximum = maximum
    }

    /// The wait after `failures` failures in a row (1 or more).
    public func delay(afterFailures failures: Int) -> TimeAmount {
        let doublings = min(max(failures, 1) - 1, 62)
        let (scaled, overflow) = first.nanoseconds.multipliedReportingOverflow(by: Int64(1) << doublings)
        return overflow ? maximum : min(.nanoseconds(scaled), maximum)
    }
}
