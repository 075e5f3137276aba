#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `sd_notify(3)` without libsystemd: datagrams of `KEY=value` lines to the Unix socket in `NOTIFY_SOCKET`
/// (a path, or `@name` for an abstract socket), which systemd reads for `Type=notify` services.
///
/// ```
///   READY=1\nSTATUS=3 clients connected            once every endpoint listens
///   RELOADING=1\nMONOTONIC_USEC=…                  SIGHUP begins (systemctl reload)
///   READY=1\nSTATUS=…                              the reload is done
///   STATUS=…                                        every 10 s
///   STOPPING=1                                      graceful shutdown begins
/// ```
/// Immutable and `Sendable`: `sendto` on one datagram socket is safe from any thread. A send that fails
/// (systemd went away) is ignored, as sd_notify's callers do: the service runs on.
final class SystemdNotifier: Sendable {
    /// The socket path, as given (`@` for the abstract namespace).
    let path: String
    private let descriptor: CInt

    /// A notifier for `NOTIFY_SOCKET` in `environment`, or `nil` when it is not set (not run by systemd).
    init?(environment: [String: String]) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty,
            path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        else { return nil }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Sends `fields` (`["READY": "1", …]`, in order) as one datagram; whether it was sent.
    @discardableResult
    func notify(_ fields: KeyValuePairs<String, String>) -> Bool {
        let message = fields.map { "\($0.key)=\($0.value.replacing("\n", with: " "))" }.joined(separator: "\n")
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // the abstract namespace
        let length = withUnsafeMutableBytes(of: &address.sun_path) { pathBytes in
            pathBytes.copyBytes(from: bytes)
            return MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1)
        }
        let sent = message.utf8CString.withUnsafeBytes { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, socklen_t(length))
                }
            }
        }
        return sent >= 0
    }

    /// `MONOTONIC_USEC`: CLOCK_MONOTONIC in microseconds, which systemd wants with `RELOADING=1`.
    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}
