import Foundation
import SwitchboardTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real TLS ClientHello, recorded from `openssl s_client` by a listener of the test's own: for tests that
/// send a ClientHello and then nothing (the handshake a slow or hostile client leaves hanging).
enum RecordedClientHello {
    /// The first TLS record `openssl s_client` sends (the ClientHello), read from a loopback listener.
    static func record() throws -> [UInt8] {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw RecordingFailed("socket: \(errno)") }
        defer { Glibc.close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 1) == 0
                    && getsockname(listener, pointer, &length) == 0
            }
        }
        guard bound else { throw RecordingFailed("bind/listen: \(errno)") }
        let port = Int(UInt16(bigEndian: address.sin_port))

        let client = try OpenSSLClient(port: port)
        defer { client.close() }
        var pollSet = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&pollSet, 1, 15_000) == 1 else { throw RecordingFailed("s_client did not connect") }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { throw RecordingFailed("accept: \(errno)") }
        defer { Glibc.close(connection) }

        // A TLS record: type (22, handshake), version (2 bytes), length (2 bytes), then the body.
        var record: [UInt8] = []
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if record.count >= 5, record.count >= 5 + (Int(record[3]) << 8 | Int(record[4])) { break }
            var chunk = [UInt8](repeating: 0, count: 4096)
            var readable = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&readable, 1, 1_000) >= 0 else { break }
            let count = recv(connection, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            if count > 0 { record += chunk[..<count] } else if count == 0 { break }
        }
        guard record.count >= 5, record[0] == 22 else { throw RecordingFailed("no ClientHello: \(record.prefix(8))") }
        return Array(record.prefix(5 + (Int(record[3]) << 8 | Int(record[4]))))
    }

    struct RecordingFailed: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
