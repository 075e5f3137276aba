import NIOCore

/// Flood control for one client, as a value: on average ``rate`` lines a second, ``burst`` at once. The
/// clock comes in with each call (the event loop's, virtual in tests).
///
/// A client the server held back (its reads paused while history or the other servers caught up) could not
/// send meanwhile: what it sent during the hold arrives at once when the hold ends. ``credit(heldFor:now:)``
/// lets those lines through — up to the rate for the time held, on top of the burst, for as long again — so
/// a client chatting within the limit is never told to slow down, or loses lines, because the server paused it.
///
/// Ownership: a value inside its session, used on that session's event loop.
struct TokenBucket {
    /// Lines a second on average; 0 means no limit.
    private(set) var rate: Double
    /// Lines at once.
    private(set) var burst: Double
    private var tokens: Double
    private var refilledAt: NIODeadline
    /// Lines allowed beyond the burst after a hold, until ``creditUntil``.
    private var credit: Double = 0
    private var creditUntil: NIODeadline = .uptimeNanoseconds(0)

    init(rate: Double, burst: Double, now: NIODeadline) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.refilledAt = now
    }

    /// New limits while the client is connected (SIGHUP): the tokens in hand stay, up to the new burst.
    mutating func retune(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
        tokens = min(tokens, burst)
    }

    /// Takes a token for one line; `false` when the client is over its limit (the line is dropped).
    mutating func take(now: NIODeadline) -> Bool {
        guard rate > 0 else { return true }
        let elapsed = Double((now - refilledAt).nanoseconds) / 1e9
        refilledAt = now
        tokens = min(burst, tokens + elapsed * rate)
        if tokens >= 1 {
            tokens -= 1
            return true
        }
        if credit >= 1 && now < creditUntil {
            credit -= 1
            return true
        }
        return false
    }

    /// The client was held back for `held`: what it sent meanwhile (at most the rate for that long) may pass
    /// on top of the burst, within the next `held` (plus a second).
    mutating func credit(heldFor held: TimeAmount, now: NIODeadline) {
        guard rate > 0, held > .zero else { return }
        credit = Double(held.nanoseconds) / 1e9 * rate
        creditUntil = now + held + .seconds(1)
    }
}
