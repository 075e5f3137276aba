#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The clock every timestamp of the tool comes from: `CLOCK_MONOTONIC` in nanoseconds.
///
/// The same clock is embedded in the `BENCH` lines and read when they come back, so latencies are
/// only meaningful when the sender and the receiver are the same process (they always are here).
enum MonotonicClock {
    /// Nanoseconds since an arbitrary, fixed point (boot on Linux). Callable from any thread.
    @inline(__always)
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}
