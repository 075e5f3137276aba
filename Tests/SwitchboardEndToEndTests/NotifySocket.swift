import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The test's stand-in for systemd's notification socket: a Unix datagram socket bound to a fresh path (or
/// a name in the abstract namespace), whose datagrams (`READY=1\nSTATUS=…`) the test reads.
final class NotifySocket {
    /// What to put in `NOTIFY_SOCKET`.
    let address: String
    private let descriptor: Int32
    private let path: String?

    /// Binds a socket at a new path in `directory`, or with `abstract`, the name `@…` in the abstract namespace.
    init(in directory: URL, abstract: Bool = false) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let name = abstract ? "@switchboard-test-\(UUID().uuidString.prefix(8))" : directory.appendingPathComponent("notify").path
        address = name
        path = abstract ? nil : name
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        let length = withUnsafeMutableBytes(of: &socketAddress.sun_path) { pathBytes in
            pathBytes.copyBytes(from: bytes)
            return MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1)
        }
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(length)) }
        }
        guard bound == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    /// The next datagram as `KEY=value` fields, or `nil` if none comes within `timeout` seconds.
    func receive(timeout: TimeInterval = 30) -> [String: String]? {
        var descriptors = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptors, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return fields
    }

    /// Datagrams until one has `key` (returned), skipping others (periodic `STATUS=`); `nil` on timeout.
    func receive(until key: String, timeout: TimeInterval = 30) -> [String: String]? {
        let deadline = Date().addingTimeInterval(timeout)
        while let fields = receive(timeout: max(0, deadline.timeIntervalSinceNow)) {
            if fields[key] != nil { return fields }
        }
        return nil
    }

    deinit {
        close(descriptor)
        if let path { unlink(path) }
    }
}
