/// Where the server listens, parsed from Twisted-style endpoint strings (`endpoints.serverFromString`).
///
/// ```
/// tcp:8000                       every interface, port 8000
/// tcp:8000:interface=127.0.0.1   one interface (IPv6: interface=[::1] or interface=\:\:1)
/// tcp:0:interface=127.0.0.1      an ephemeral port (tests)
/// tcp:8000:reuseport             SO_REUSEPORT: several servers on one host share the port (the kernel
///                                spreads new connections over them)
/// unix:/run/switchboard.sock     a Unix domain socket
/// unix:/tmp/sb.sock:mode=660     … with the socket file's permission bits (octal)
/// ```
/// Anything else (including `ssl:`, which is not built yet) is refused with an ``EndpointError`` saying why.
public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int, backlog: Int, reusePort: Bool = false)
    case unix(path: String, mode: UInt16?, backlog: Int)

    /// The listen backlog unless `backlog=N` says otherwise: room for a crowd connecting while the loop is
    /// busy (at 256 the chaos test overflowed it hundreds of times a run, and a client whose handshake was
    /// dropped could be reset before its welcome). The kernel caps it at `net.core.somaxconn`.
    public static let defaultBacklog = 4096

    /// Parses an endpoint description.
    public init(parsing text: String) throws(EndpointError) {
        let parts = Endpoint.splitEscaped(text)
        guard let kind = parts.first, !kind.isEmpty else {
            throw EndpointError(text, "empty endpoint; try tcp:8000 or unix:/path/to.sock")
        }
        var positional: [String] = []
        var options: [String: String] = [:]
        var reusePort = false
        for part in parts.dropFirst() {
            if part == "reuseport" {  // a flag, allowed among the options
                guard kind == "tcp" else { throw EndpointError(text, "reuseport is a tcp option") }
                reusePort = true
            } else if let equals = part.firstIndex(of: "=") {
                let key = String(part[..<equals])
                guard options[key] == nil else { throw EndpointError(text, "option \(key) given twice") }
                options[key] = String(part[part.index(after: equals)...])
            } else {
                guard options.isEmpty else { throw EndpointError(text, "'\(part)' must come before the options") }
                positional.append(part)
            }
        }
        func backlog() throws(EndpointError) -> Int {
            guard let value = options.removeValue(forKey: "backlog") else { return Endpoint.defaultBacklog }
            guard let number = Int(value), number > 0 else { throw EndpointError(text, "backlog must be a positive number") }
            return number
        }
        switch kind {
        case "tcp":
            guard positional.count == 1, let port = Int(positional[0]), (0...65_535).contains(port) else {
                throw EndpointError(text, "tcp needs a port from 0 to 65535, e.g. tcp:8000")
            }
            let host = options.removeValue(forKey: "interface") ?? "0.0.0.0"
            guard !host.isEmpty else { throw EndpointError(text, "interface= needs an address") }
            let backlog = try backlog()
            if let unknown = options.keys.sorted().first {
                throw EndpointError(text, "unknown tcp option '\(unknown)' (known: interface, backlog, reuseport)")
            }
            self = .tcp(host: host, port: port, backlog: backlog, reusePort: reusePort)
        case "unix":
            guard positional.count == 1, !positional[0].isEmpty else {
                throw EndpointError(text, "unix needs a socket path, e.g. unix:/tmp/switchboard.sock")
            }
            var mode: UInt16?
            if let value = options.removeValue(forKey: "mode") {
                guard let bits = UInt16(value, radix: 8), bits <= 0o777 else {
                    throw EndpointError(text, "mode must be octal permission bits, e.g. mode=660")
                }
                mode = bits
            }
            let backlog = try backlog()
            options.removeValue(forKey: "lockfile")  // Twisted's option; a stale socket is replaced anyway
            if let unknown = options.keys.sorted().first {
                throw EndpointError(text, "unknown unix option '\(unknown)' (known: mode, backlog)")
            }
            self = .unix(path: positional[0], mode: mode, backlog: backlog)
        case "ssl":
            throw EndpointError(text, "ssl endpoints are not supported yet; put a TLS terminator in front of tcp:")
        default:
            throw EndpointError(text, "unknown endpoint type '\(kind)'; use tcp:PORT[:interface=ADDR] or unix:PATH[:mode=OCTAL]")
        }
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port, _, _): return host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
        case .unix(let path, _, _): return "unix:\(path)"
        }
    }

    /// Splits on `:` except where escaped as `\:` (Twisted's rule) or inside `[…]` (IPv6 literals).
    static func splitEscaped(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var escaping = false
        var bracketDepth = 0
        for character in text {
            if escaping {
                current.append(character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else if character == "[" {
                bracketDepth += 1
            } else if character == "]" {
                bracketDepth = max(0, bracketDepth - 1)
            } else if character == ":" && bracketDepth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts
    }
}

/// An endpoint string that could not be used, and why.
public struct EndpointError: Error, Sendable, Equatable, CustomStringConvertible {
    public var endpoint: String
    public var reason: String
    public init(_ endpoint: String, _ reason: String) {
        self.endpoint = endpoint
        self.reason = reason
    }
    public var description: String { "invalid endpoint '\(endpoint)': \(reason)" }
}
