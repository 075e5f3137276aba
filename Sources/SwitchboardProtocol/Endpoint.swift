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
/// ssl:8443:privateKey=key.pem:certKey=cert.pem
///                                TLS (1.2 or newer, implicit: no STARTTLS) on a tcp port; interface=,
///                                backlog=, reuseport as on tcp:; extraCertChain=chain.pem adds
///                                intermediates; certKey= defaults to privateKey= (one PEM holding both)
/// systemd:domain=INET:index=0    the listening socket systemd passed (socket activation, LISTEN_FDS);
///                                domain is INET, INET6 or UNIX, index counts from 0
/// haproxy:tcp:8000               any endpoint above, behind a proxy: each connection starts with a PROXY
/// haproxy:ssl:8443:…             protocol v1 or v2 header (accepted from --trusted-proxy sources only)
/// ```
/// Anything else is refused with an ``EndpointError`` saying why.
public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int, backlog: Int, reusePort: Bool = false)
    case unix(path: String, mode: UInt16?, backlog: Int)
    /// A tcp listener whose connections speak TLS from the first byte.
    case ssl(host: String, port: Int, backlog: Int, reusePort: Bool = false, files: TLSFiles)
    /// A socket systemd opened and passed as file descriptor `3 + index` (`sd_listen_fds`).
    case systemd(domain: SystemdSocketDomain, index: Int)
    /// `endpoint`, where every connection first sends a PROXY protocol header naming the real client.
    indirect case haproxy(Endpoint)

    /// The listen backlog unless `backlog=N` says otherwise: room for a crowd connecting while the loop is
    /// busy (at 256 the chaos test overflowed it hundreds of times a run, and a client whose handshake was
    /// dropped could be reset before its welcome). The kernel caps it at `net.core.somaxconn`.
    public static let defaultBacklog = 4096

    /// Parses an endpoint description.
    public init(parsing text: String) throws(EndpointError) {
        if text.hasPrefix("haproxy:") {
            let inner = String(text.dropFirst("haproxy:".count))
            guard !inner.hasPrefix("haproxy:") else { throw EndpointError(text, "haproxy: is given once") }
            do {
                self = .haproxy(try Endpoint(parsing: inner))
            } catch {
                throw EndpointError(text, error.reason)
            }
            return
        }
        let parts = Endpoint.splitEscaped(text)
        guard let kind = parts.first, !kind.isEmpty else {
            throw EndpointError(text, "empty endpoint; try tcp:8000 or unix:/path/to.sock")
        }
        var positional: [String] = []
        var options: [String: String] = [:]
        var reusePort = false
        for part in parts.dropFirst() {
            if part == "reuseport" {  // a flag, allowed among the options
                guard kind == "tcp" || kind == "ssl" else { throw EndpointError(text, "reuseport is a tcp option") }
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
            guard positional.count == 1, let port = Int(positional[0]), (0...65_535).contains(port) else {
                throw EndpointError(text, "ssl needs a port from 0 to 65535, e.g. ssl:8443:privateKey=key.pem:certKey=cert.pem")
            }
            let host = options.removeValue(forKey: "interface") ?? "0.0.0.0"
            guard !host.isEmpty else { throw EndpointError(text, "interface= needs an address") }
            let backlog = try backlog()
            guard let key = options.removeValue(forKey: "privateKey"), !key.isEmpty else {
                throw EndpointError(text, "ssl needs privateKey=KEY.pem (and certKey=CERT.pem unless the key's file holds both)")
            }
            let certificate = options.removeValue(forKey: "certKey")
            let chain = options.removeValue(forKey: "extraCertChain")
            if certificate?.isEmpty == true || chain?.isEmpty == true {
                throw EndpointError(text, "certKey= and extraCertChain= need a file")
            }
            if let unknown = options.keys.sorted().first {
                throw EndpointError(
                    text,
                    "unknown ssl option '\(unknown)' (known: privateKey, certKey, extraCertChain, interface, backlog, reuseport)")
            }
            let files = TLSFiles(privateKey: key, certificate: certificate, extraCertificateChain: chain)
            self = .ssl(host: host, port: port, backlog: backlog, reusePort: reusePort, files: files)
        case "systemd":
            guard positional.isEmpty else {
                throw EndpointError(text, "systemd takes options only, e.g. systemd:domain=INET:index=0")
            }
            guard let domainText = options.removeValue(forKey: "domain"),
                let domain = SystemdSocketDomain(rawValue: domainText)
            else {
                throw EndpointError(text, "systemd needs domain=INET, domain=INET6 or domain=UNIX")
            }
            guard let indexText = options.removeValue(forKey: "index"), let index = Int(indexText), index >= 0,
                index < Endpoint.maximumSystemdSockets
            else {
                throw EndpointError(text, "systemd needs index=N, the socket's place among those systemd passes (from 0)")
            }
            if let unknown = options.keys.sorted().first {
                throw EndpointError(text, "unknown systemd option '\(unknown)' (known: domain, index)")
            }
            self = .systemd(domain: domain, index: index)
        default:
            throw EndpointError(
                text,
                "unknown endpoint type '\(kind)'; use tcp:PORT[:interface=ADDR], unix:PATH[:mode=OCTAL], ssl:PORT:privateKey=KEY:certKey=CERT, systemd:domain=INET:index=N, or haproxy: before any of them")
        }
    }

    /// The most sockets a `systemd:` endpoint may name (systemd passes far fewer in practice).
    public static let maximumSystemdSockets = 1_024

    /// The TLS files when this endpoint speaks TLS.
    public var tlsFiles: TLSFiles? {
        switch self {
        case .ssl(_, _, _, _, let files): return files
        case .haproxy(let inner): return inner.tlsFiles
        case .tcp, .unix, .systemd: return nil
        }
    }

    /// Whether connections start with a PROXY protocol header.
    public var expectsProxyHeader: Bool {
        if case .haproxy = self { return true }
        return false
    }

    /// The listening socket underneath: the endpoint without `haproxy:` (an `ssl:` endpoint is its own socket).
    public var socketEndpoint: Endpoint {
        if case .haproxy(let inner) = self { return inner.socketEndpoint }
        return self
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port, _, _): return host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
        case .unix(let path, _, _): return "unix:\(path)"
        case .ssl(let host, let port, _, _, _): return host.contains(":") ? "ssl:[\(host)]:\(port)" : "ssl:\(host):\(port)"
        case .systemd(let domain, let index): return "systemd:domain=\(domain.rawValue):index=\(index)"
        case .haproxy(let inner): return "haproxy:\(inner)"
        }
    }

    /// The endpoint as a string ``init(parsing:)`` reads back to the same endpoint (configuration files and
    /// `switchboard config --show`): every option spelled out, colons in paths escaped as `\:`.
    public var specification: String {
        func escaped(_ text: String) -> String {
            String(text.flatMap { $0 == ":" || $0 == "\\" ? ["\\", $0] : [$0] })
        }
        func interface(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
        func backlogOption(_ backlog: Int) -> String { backlog == Endpoint.defaultBacklog ? "" : ":backlog=\(backlog)" }
        switch self {
        case .tcp(let host, let port, let backlog, let reusePort):
            return "tcp:\(port):interface=\(interface(host))\(backlogOption(backlog))\(reusePort ? ":reuseport" : "")"
        case .unix(let path, let mode, let backlog):
            let modeOption = mode.map { ":mode=\(String($0, radix: 8))" } ?? ""
            return "unix:\(escaped(path))\(modeOption)\(backlogOption(backlog))"
        case .ssl(let host, let port, let backlog, let reusePort, let files):
            let chain = files.extraCertificateChain.map { ":extraCertChain=\(escaped($0))" } ?? ""
            return "ssl:\(port):interface=\(interface(host))\(backlogOption(backlog))\(reusePort ? ":reuseport" : "")"
                + ":privateKey=\(escaped(files.privateKey)):certKey=\(escaped(files.certificate))\(chain)"
        case .systemd(let domain, let index):
            return "systemd:domain=\(domain.rawValue):index=\(index)"
        case .haproxy(let inner):
            return "haproxy:\(inner.specification)"
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
