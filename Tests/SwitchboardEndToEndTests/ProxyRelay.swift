import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A proxy of the test's own, the way HAProxy with `send-proxy` sits in front of a server: it accepts one
/// connection on 127.0.0.1, connects to the server, writes a PROXY header the test chose, then relays bytes
/// both ways until either side closes. For clients that cannot write a PROXY header themselves (`openssl
/// s_client` in front of a `haproxy:ssl:` endpoint).
final class ProxyRelay: @unchecked Sendable {
    // @unchecked Sendable: `listener` is written once in init; the relay thread owns the sockets it accepts and
    // opens; `stop()` closes the listener once (behind `stopped`), which makes the thread's accept fail.
    let port: Int
    private let listener: Int32
    private let finished = DispatchSemaphore(value: 0)
    private let stopped = NIOLockedValueBox(false)

    /// Listens on an ephemeral loopback port; the first connection is relayed to 127.0.0.1:`serverPort` after
    /// `header`.
    init(to serverPort: Int, header: [UInt8]) throws {
        let listening = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = listening
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listening, pointer, length) == 0 && listen(listening, 4) == 0
                    && getsockname(listening, pointer, &length) == 0
            }
        }
        guard listening >= 0, bound else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        port = Int(UInt16(bigEndian: address.sin_port))
        let listener = self.listener
        let finished = self.finished
        Thread.detachNewThread {
            defer { finished.signal() }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(server) }
            var target = sockaddr_in()
            target.sin_family = sa_family_t(AF_INET)
            target.sin_addr.s_addr = inet_addr("127.0.0.1")
            target.sin_port = in_port_t(UInt16(serverPort).bigEndian)
            let connected = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected, ProxyRelay.writeAll(server, header) else { return }
            ProxyRelay.pump(client, server)
        }
    }

    /// Copies bytes both ways until one side ends.
    private static func pump(_ a: Int32, _ b: Int32) {
        var descriptors = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while poll(&descriptors, 2, 60_000) > 0 {
            for (index, descriptor) in descriptors.enumerated() where descriptor.revents != 0 {
                let count = recv(descriptor.fd, &buffer, buffer.count, 0)
                guard count > 0, writeAll(index == 0 ? b : a, Array(buffer[..<count])) else { return }
            }
        }
    }

    private static func writeAll(_ socket: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    /// Stops accepting; a relay in progress ends when either side closes.
    func stop() {
        // Once only: a second close could hit a descriptor number reused by then.
        guard !stopped.withLockedValue({ was in defer { was = true }; return was }) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }
}
