import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The listening sockets systemd passed this process (socket activation), read the way `sd_listen_fds(1)`
/// reads them, without libsystemd: `LISTEN_PID` must be this process, `LISTEN_FDS` says how many, and they
/// are file descriptors 3, 4, …. The variables are then removed from the environment (so nothing this
/// process starts takes the sockets for its own) and the descriptors marked close-on-exec.
///
/// A `systemd:domain=INET:index=0` endpoint takes descriptor `3 + index`; its domain is checked against the
/// socket, which must be a listening stream socket, so a unit whose sockets come in another order fails at
/// start with one clear line.
///
/// Read once per process (``shared``); thread-safe (immutable).
public struct SystemdListenSockets: Sendable {
    /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
    public static let firstDescriptor: CInt = 3

    /// This process's sockets, read from the environment the first time they are asked for.
    public static let shared = SystemdListenSockets(
        environment: Dictionary(uniqueKeysWithValues: ["LISTEN_PID", "LISTEN_FDS"].compactMap { name in
            getenv(name).map { (name, String(cString: $0)) }
        }),
        removingVariables: true)

    /// How many sockets were passed to this process (0 when none, or when they were meant for another).
    public let count: Int
    /// Why there are none, when the variables are set but not for this process.
    let problem: String?

    init(environment: [String: String], removingVariables: Bool) {
        defer {
            if removingVariables {
                unsetenv("LISTEN_PID")
                unsetenv("LISTEN_FDS")
                unsetenv("LISTEN_FDNAMES")
            }
        }
        guard let fdsText = environment["LISTEN_FDS"] else {
            (count, problem) = (0, "systemd passed no sockets (LISTEN_FDS is not set)")
            return
        }
        guard let pidText = environment["LISTEN_PID"], let pid = Int32(pidText), pid == getpid() else {
            (count, problem) = (0, "the sockets systemd passed are for another process (LISTEN_PID is not this process)")
            return
        }
        guard let fds = Int(fdsText), fds >= 0 else {
            (count, problem) = (0, "LISTEN_FDS is not a number")
            return
        }
        count = fds
        problem = nil
        for descriptor in Self.firstDescriptor..<(Self.firstDescriptor + CInt(fds)) {
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// The listening socket at `index` if it is of `domain`, else an error saying what is wrong.
    public func socket(at index: Int, domain: SystemdSocketDomain) throws(SystemdSocketError) -> NIOBSDSocket.Handle {
        if let problem { throw SystemdSocketError(problem) }
        guard index < count else {
            throw SystemdSocketError("systemd passed \(count) socket\(count == 1 ? "" : "s"); index=\(index) is not one of them")
        }
        let descriptor = Self.firstDescriptor + CInt(index)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else {
            throw SystemdSocketError("descriptor \(descriptor) is not a socket: \(String(cString: strerror(errno)))")
        }
        let family: SystemdSocketDomain?
        switch CInt(storage.ss_family) {
        case AF_INET: family = .inet
        case AF_INET6: family = .inet6
        case AF_UNIX: family = .unix
        default: family = nil
        }
        guard family == domain else {
            throw SystemdSocketError(
                "socket \(index) (descriptor \(descriptor)) is \(family?.rawValue ?? "of another family"), not \(domain.rawValue)")
        }
        guard Self.option(SO_TYPE, of: descriptor) == CInt(SOCK_STREAM.rawValue) else {
            throw SystemdSocketError("socket \(index) is not a stream socket (ListenStream= in the .socket unit)")
        }
        guard Self.option(SO_ACCEPTCONN, of: descriptor) == 1 else {
            throw SystemdSocketError("socket \(index) is not listening")
        }
        return descriptor
    }

    private static func option(_ name: CInt, of descriptor: CInt) -> CInt? {
        var value: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        return getsockopt(descriptor, SOL_SOCKET, name, &value, &length) == 0 ? value : nil
    }
}

/// A `systemd:` endpoint whose socket cannot be used: one line.
public struct SystemdSocketError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
