import NIOConcurrencyHelpers

/// Connections turned away at the front door, counted (never logged one by one above debug level, so a
/// scanner cannot fill the log): the server logs a summary when they change, and `STATUS=` shows them.
///
/// Thread-safe: written on the hub's loop, read by the summary timer and the systemd status.
public final class FrontDoorCounters: Sendable {
    /// One snapshot of the counts since the server started.
    public struct Counts: Sendable, Equatable {
        /// TLS handshakes that failed (garbage instead of a ClientHello, no shared cipher, the client went away).
        public var tlsHandshakesFailed = 0
        /// TLS handshakes that did not finish within `--tls-handshake-timeout`.
        public var tlsHandshakesTimedOut = 0
        /// PROXY headers that were malformed, or did not arrive within 3 seconds.
        public var proxyHeadersRefused = 0
        /// Connections to a `haproxy:` endpoint from an address outside `--trusted-proxy`.
        public var untrustedProxies = 0

        public init() {}

        /// All of them.
        public var total: Int { tlsHandshakesFailed + tlsHandshakesTimedOut + proxyHeadersRefused + untrustedProxies }
    }

    private let counts = NIOLockedValueBox(Counts())

    public init() {}

    /// The counts now.
    public var current: Counts { counts.withLockedValue { $0 } }

    func count(_ change: (inout Counts) -> Void) {
        counts.withLockedValue { change(&$0) }
    }
}
