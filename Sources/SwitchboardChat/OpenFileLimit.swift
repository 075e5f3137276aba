#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open file descriptors: every client is one, and so is every database
/// connection and listener. A server that runs out cannot accept (see the accept back-off in
/// ``ChatServer``), so start-up raises the soft limit as far as the hard limit allows.
public enum OpenFileLimit {
    /// Descriptors the server needs beyond one per client: listeners, database connections, the event
    /// loop's own, standard streams, a margin.
    public static let reserve = 64

    /// Raises the soft limit to the hard limit. Returns the soft limit now in force, or `nil` if it cannot
    /// be read.
    @discardableResult
    public static func raiseToHardLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(resourceNumber, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resourceNumber, &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    private static var resourceNumber: Int32 {
        #if os(Linux)
        Int32(RLIMIT_NOFILE.rawValue)
        #else
        RLIMIT_NOFILE
        #endif
    }
}
