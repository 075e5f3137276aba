/// What a ``DatabasePool`` has done, for the metrics: the work waiting for a pool thread now,
/// and the failures its interactions threw, by ``DatabaseError/Kind`` (`connect_failed`, `busy`, …).
public struct DatabasePoolStatistics: Sendable, Equatable {
    /// Interactions submitted and not yet started on a pool thread.
    public var waiting = 0
    /// Failed interactions by kind, the kind's words joined with `_`.
    public var errors: [String: Int64] = [:]

    public init() {}
}
