#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One bounded `poll(2)` on one socket: how the threads that drive libpq's non-blocking API (connecting, the
/// cluster's LISTEN connection) wait for it without blocking past their deadline or missing a stop. Never on
/// an event loop.
public enum SocketPoll {
    /// What the socket is ready for. A hang-up or an error counts as readable, so that reading reports it.
    public struct Ready: Sendable, Equatable {
        public var readable: Bool
        public var writable: Bool
        /// Anything at all: the caller should go on with libpq (which reports what happened).
        public var any: Bool { readable || writable }
    }

    /// Waits at most `milliseconds` for `socket` to be readable (and writable, when `writable`). An
    /// interrupted wait (EINTR) or a timeout is "nothing ready".
    public static func wait(_ socket: Int32, readable: Bool = true, writable: Bool, milliseconds: Int32) -> Ready {
        let events = (readable ? Int16(POLLIN) : 0) | (writable ? Int16(POLLOUT) : 0)
        var descriptor = pollfd(fd: socket, events: events, revents: 0)
        guard poll(&descriptor, 1, milliseconds) > 0 else { return Ready(readable: false, writable: false) }
        let revents = Int32(descriptor.revents)
        return Ready(
            readable: (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0, writable: (revents & POLLOUT) != 0)
    }
}
