import NIOCore

/// Throttles password guesses (`/oper`, `/identify`): each key (a connection, an address) may fail
/// ``limit`` times within ``window``; after that its attempts are refused, without checking the password,
/// until its oldest failure in the window is older than the window. A success clears the key.
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

    public init(limit: Int, window: TimeAmount, maximumKeys: Int = 10_000) {
        self.limit = max(1, limit)
        self.window = window
        self.maximumKeys = max(1, maximumKeys)
    }

    /// `nil` when `key` may try now, else how long until it may.
    public func wait(for key: Key, now: NIODeadline) -> TimeAmount? {
        guard let times = failures[key], times.count >= limit, let oldest = times.first else { return nil }
        let free = oldest + window
        return free > now ? free - now : nil
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
    }

    /// How many keys are tracked (for tests and memory bounds).
    public var trackedKeys: Int { failures.count }
}
