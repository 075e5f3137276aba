import NIOCore

extension SocketAddress {
    /// `127.0.0.1:8000`, `[::1]:8000`, or the socket path: how logs and history rows name an address.
    var displayString: String {
        if let path = pathname { return path }
        let ip = ipAddress ?? "?"
        let port = port.map(String.init) ?? "?"
        // Bytes, not Foundation's substring search (`contains(":")` on a String is Foundation's here).
        return ip.utf8.contains(UInt8(ascii: ":")) ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
