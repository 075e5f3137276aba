import NIOCore

/// One client's flood control: a ``TokenBucket`` following the configured rate (which SIGHUP may change), and
/// the "slow down" notice at most once a second.
///
/// Ownership: a value inside its session, used on that session's event loop.
struct FloodControl {
    private var bucket: TokenBucket
    private var lastNotice: NIODeadline?

    /// What to do with a line.
    enum Verdict: Equatable {
        case pass
        /// Over the limit: the line is dropped; `tell` when the client should be told (once a second).
        case drop(tell: Bool)
    }

    init(rate: Double, burst: Double, now: NIODeadline) {
        bucket = TokenBucket(rate: rate, burst: burst, now: now)
    }

    /// Takes a token for one line under the limits in force now.
    mutating func take(rate: Double, burst: Double, now: NIODeadline) -> Verdict {
        if bucket.rate != rate || bucket.burst != burst { bucket.retune(rate: rate, burst: burst) }
        if bucket.take(now: now) { return .pass }
        guard lastNotice.map({ now - $0 >= .seconds(1) }) ?? true else { return .drop(tell: false) }
        lastNotice = now
        return .drop(tell: true)
    }

    /// The client was held back by the server for `held`: see ``TokenBucket/credit(heldFor:now:)``.
    mutating func credit(heldFor held: TimeAmount, now: NIODeadline) {
        bucket.credit(heldFor: held, now: now)
    }
}
