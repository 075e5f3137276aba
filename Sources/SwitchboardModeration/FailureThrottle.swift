import NIOCore

/// Throttles password guesses (`/oper`, `/identify`): each key (a connection, an address) may fail
/// ``limit`` times within ``window``; after that its attempts are refused, without checking the password,
/// until its oldest failure in the window is older than the window. A success clears the key.
///
/// Checks still running count against the limit (``started(_:)``, ``finished(_:failed:now:)``): otherwise
/// a thousand connections from one address, each sending one guess at the same moment, would all pass the
/// gate before the first failure was recorded.
///
/// The chat keeps two: per connection (3 failures a minute) and per address (10 failures in 10 minutes),
/// so thousands of guesses over many connections from one address get 10 checks every 10 minutes.
///
/// Memory is bounded: at most ``maximumKeys`` keys are tracked; past that the key with the oldest latest
/// failure is forgotten (an attacker spreading over that many addresses gets `limit` guesses per address,
/// which the per-address limit already allowed).
///
/// A value; the hub owns it on its event loop. Time is passed in, so tests need no clock.
public struct FailureThrottle<Key: Hashable & Sendable>: Sendable {
    public let limit: Int
    public let window: TimeAmount
    public let maximumKeys: Int
    /// Each key's failures within the window, oldest first (at most `limit`).
    private var failures: [Key: [NIODeadline]] = [:]
    /// Each key's checks started and not finished yet (absent: none).
    private var inFlight: [Key: Int] = [:]
    /// What ``wait(for:now:)`` says while only checks in flight fill the limit: they finish in milliseconds.
    public static var inFlightWait: TimeAmount { .seconds(1) }

    public init(limit: Int, window: TimeAmount, maximumKeys: Int = 10_000) {
        self.limit = max(1, limit)
        self.window = window
        self.maximumKeys = max(1, maximumKeys)
    }

    /// `nil` when `key` may try now, else how long until it may.
    public func wait(for key: Key, now: NIODeadline) -> TimeAmount? {
        let times = (failures[key] ?? []).filter { $0 + window > now }
        let running = inFlight[key] ?? 0
        guard times.count + running >= limit else { return nil }
        if times.count >= limit, let oldest = times.first { return oldest + window - now }
        return Self.inFlightWait
    }

    /// A check for `key` starts (after ``wait(for:now:)`` said it may): it counts against the limit until
    /// ``finished(_:failed:now:)``.
    public mutating func started(_ key: Key) {
        inFlight[key, default: 0] += 1
    }

    /// A check ``started(_:)`` for `key` is over; `failed`: it was a wrong password (recorded as a failure).
    public mutating func finished(_ key: Key, failed wrong: Bool, now: NIODeadline) {
        if let running = inFlight[key] { inFlight[key] = running > 1 ? running - 1 : nil }
        if wrong { failed(key, now: now) }
    }

    /// Records a failed attempt by `key`.
    public mutating func failed(_ key: Key, now: NIODeadline) {
        var times = (failures[key] ?? []).filter { $0 + window > now }
        times.append(now)
        if times.count > limit { times.removeFirst(times.count - limit) }
        if failures[key] == nil, failures.count >= maximumKeys, let stalest = failures.min(by: { ($0.value.last ?? now) < ($1.value.last ?? now) })?.key {
            failures[stalest] = nil
        }
        failures[key] = times
    }

    /// A successful attempt: `key`'s failures are forgotten.
    public mutating func succeeded(_ key: Key) {
        failures[key] = nil
    }

    /// Forgets `key` (its connection closed).
    public mutating func forget(_ key: Key) {
        failures[key] = nil
        inFlight[key] = nil
    }

    /// How many keys are tracked (for tests and memory bounds).
    public var trackedKeys: Int { failures.count }
}
