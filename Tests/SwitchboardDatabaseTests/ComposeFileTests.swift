import Foundation
import XCTest
import Yams

/// Checks `docker-compose.yml` and `Dockerfile` without a Docker engine: the services are wired the way
/// `docker compose up` needs (PostgreSQL healthy before Switchboard starts, the same credentials on both
/// sides, data on a named volume, ports published) — and two Switchboard servers, on ports 8000 and 8001,
/// share the one database (cluster mode).
///
/// The compose file is read with Yams (libyaml), so every YAML form compose accepts reads the way Docker reads
/// it, with no home-made parser and nothing (python3, PyYAML) that a machine might lack.
final class ComposeFileTests: XCTestCase {
    /// The package root: this file is `Tests/SwitchboardDatabaseTests/ComposeFileTests.swift`.
    private static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func compose() throws -> ComposeYAML.Node {
        let url = Self.root.appendingPathComponent("docker-compose.yml")
        return try ComposeYAML.parse(String(contentsOf: url, encoding: .utf8))
    }

    /// The Switchboard services and the port each listens on.
    private static let servers = [("switchboard", "8000"), ("switchboard-2", "8001")]

    private func service(_ name: String) throws -> ComposeYAML.Node {
        try XCTUnwrap(compose()["services"]?[name], "docker-compose.yml has no service '\(name)'")
    }

    /// Environment as a dictionary, from either the map or the `KEY=VALUE` list form.
    private func environment(of service: ComposeYAML.Node) -> [String: String] {
        switch service["environment"] {
        case .map(let map)?:
            return map.compactMapValues(\.text)
        case .list(let items)?:
            var result: [String: String] = [:]
            for item in items.compactMap(\.text) {
                let parts = item.split(separator: "=", maxSplits: 1)
                result[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            return result
        default:
            return [:]
        }
    }

    /// `[published, target]` pairs (host IP, if any, kept on the published side) of a service's ports.
    private func ports(of service: ComposeYAML.Node) -> [(published: String, target: String)] {
        (service["ports"]?.list ?? []).compactMap { port in
            if case .map = port {
                guard let target = port["target"]?.text else { return nil }
                let published = port["published"]?.text ?? ""
                let hostIP = port["host_ip"]?.text.map { "\($0):" } ?? ""
                return (hostIP + published, target)
            }
            guard let text = port.text else { return nil }
            let spec = text.split(separator: "/").first.map(String.init) ?? text
            guard let colon = spec.lastIndex(of: ":") else { return ("", spec) }
            return (String(spec[..<colon]), String(spec[spec.index(after: colon)...]))
        }
    }

    /// Both services exist, and PostgreSQL's image is pinned to a major version.
    func testServicesExistAndPostgresImageIsPinned() throws {
        let postgres = try service("postgres")
        _ = try service("switchboard")
        let image = try XCTUnwrap(postgres["image"]?.text)
        XCTAssertNotNil(
            image.wholeMatch(of: /postgres:\d+(\.\d+)*(-[A-Za-z0-9.]+)?/),
            "postgres image '\(image)' must be pinned to a major version, e.g. postgres:15")
    }

    /// The health check runs `pg_isready` for the configured user and database.
    func testPostgresHealthcheckUsesPgIsready() throws {
        let postgres = try service("postgres")
        let test = try XCTUnwrap(postgres["healthcheck"]?["test"], "postgres has no healthcheck")
        let words = test.list?.compactMap(\.text) ?? test.text?.split(separator: " ").map(String.init) ?? []
        XCTAssertTrue(words.contains { $0.contains("pg_isready") }, "healthcheck \(words) does not use pg_isready")
        let env = environment(of: postgres)
        if let user = env["POSTGRES_USER"] { XCTAssertTrue(words.joined(separator: " ").contains(user), "\(words)") }
    }

    /// PostgreSQL keeps its data on a named volume that is declared at the top level.
    func testPostgresDataIsOnADeclaredNamedVolume() throws {
        let declared = Set(try compose()["volumes"]?.map?.keys.map { $0 } ?? [])
        XCTAssertFalse(declared.isEmpty, "no top-level named volumes")
        let mounts = try service("postgres")["volumes"]?.list ?? []
        let named = mounts.compactMap { mount -> (String, String)? in
            if case .map = mount, let source = mount["source"]?.text, let target = mount["target"]?.text {
                return (source, target)
            }
            let parts = mount.text?.split(separator: ":").map(String.init) ?? []
            return parts.count >= 2 ? (parts[0], parts[1]) : nil
        }
        XCTAssertTrue(
            named.contains { declared.contains($0.0) && $0.1 == "/var/lib/postgresql/data" },
            "postgres mounts \(named) use none of the declared volumes \(declared) for /var/lib/postgresql/data")
    }

    /// PostgreSQL is published for the tests, on loopback only.
    func testPostgresIsPublishedOnLoopback() throws {
        let published = ports(of: try service("postgres"))
        XCTAssertTrue(published.contains { $0.target == "5432" && $0.published == "127.0.0.1:5432" }, "\(published)")
    }

    /// Switchboard is built from this repository's Dockerfile, and that Dockerfile builds the product.
    func testSwitchboardBuildsFromTheRepositoryDockerfile() throws {
        for (name, _) in Self.servers {
            let build = try XCTUnwrap(try service(name)["build"], "\(name) has no build section")
            XCTAssertEqual(build["context"]?.text, ".", name)
        }
        let build = try XCTUnwrap(try service("switchboard")["build"], "switchboard has no build section")
        let context = build.text ?? build["context"]?.text ?? "."
        let dockerfile = build["dockerfile"]?.text ?? "Dockerfile"
        let url = Self.root.appendingPathComponent(context).appendingPathComponent(dockerfile).standardizedFileURL
        XCTAssertTrue(FileManager.default.fileExists(atPath: url.path), "\(url.path) does not exist")

        let text = try String(contentsOf: url, encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertTrue(
            lines.contains {
                $0.contains("swift build") && $0.contains("-c release") && $0.contains("--product switchboard")
            },
            "the Dockerfile does not run swift build -c release --product switchboard")
        XCTAssertTrue(
            lines.contains { $0.hasPrefix("FROM swift:") && $0.contains(" AS build") }, "no swift build stage")
        XCTAssertTrue(lines.contains { $0 == "EXPOSE 8000" }, "the Dockerfile does not EXPOSE 8000")
        XCTAssertTrue(lines.contains { $0.hasPrefix("ENTRYPOINT") && $0.contains("switchboard") })
    }

    /// Switchboard starts only once PostgreSQL is healthy.
    func testSwitchboardWaitsForHealthyPostgres() throws {
        for (name, _) in Self.servers {
            let dependsOn = try XCTUnwrap(try service(name)["depends_on"], "\(name) has no depends_on")
            XCTAssertEqual(dependsOn["postgres"]?["condition"]?.text, "service_healthy", name)
        }
    }

    /// The database URL in switchboard's command reaches the `postgres` service with its user, password and
    /// database.
    func testSwitchboardDatabaseURLMatchesPostgresService() throws {
        for (name, _) in Self.servers { try checkDatabaseURL(of: name) }
    }

    private func checkDatabaseURL(of name: String) throws {
        let switchboard = try service(name)
        let command = switchboard["command"]?.list?.compactMap(\.text)
            ?? switchboard["command"]?.text?.split(separator: " ").map(String.init) ?? []
        let urlText = try XCTUnwrap(
            command.firstIndex(of: "--database").flatMap { command.indices.contains($0 + 1) ? command[$0 + 1] : nil }
                ?? command.first { $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") },
            "no --database in \(command)")
        let url = try XCTUnwrap(URLComponents(string: urlText), "unparsable database URL")
        let env = environment(of: try service("postgres"))
        XCTAssertEqual(url.host, "postgres", "the URL must name the compose service")
        XCTAssertEqual(url.port ?? 5432, 5432)
        XCTAssertEqual(url.user, env["POSTGRES_USER"])
        XCTAssertEqual(url.password, env["POSTGRES_PASSWORD"])
        XCTAssertEqual(url.path, "/" + (env["POSTGRES_DB"] ?? env["POSTGRES_USER"] ?? ""))
        XCTAssertTrue(command.contains("serve"), "\(command)")
    }

    /// Each server listens on its own chat port (8000, 8001) and publishes it.
    func testEachSwitchboardListensOnAndPublishesItsPort() throws {
        for (name, port) in Self.servers {
            let switchboard = try service(name)
            let published = ports(of: switchboard)
            XCTAssertTrue(
                published.contains { $0.target == port && ($0.published == port || $0.published.hasSuffix(":\(port)")) },
                "\(name): \(published)")
            let command = switchboard["command"]?.list?.compactMap(\.text) ?? []
            XCTAssertTrue(command.contains("tcp:\(port)"), "\(name) does not listen on \(port): \(command)")
        }
    }
}

/// A compose file as plain values: Yams loads the YAML, and this gives the tests subscripts and `text`.
enum ComposeYAML {
    indirect enum Node: Equatable {
        case string(String)
        case int(Int)
        case bool(Bool)
        case null
        case list([Node])
        case map([String: Node])

        subscript(key: String) -> Node? {
            if case .map(let map) = self { return map[key] }
            return nil
        }

        var list: [Node]? {
            if case .list(let items) = self { return items }
            return nil
        }

        var map: [String: Node]? {
            if case .map(let map) = self { return map }
            return nil
        }

        /// Scalars as text (compose accepts `5432` and `"5432"` alike).
        var text: String? {
            switch self {
            case .string(let text): return text
            case .int(let value): return String(value)
            case .bool(let value): return value ? "true" : "false"
            default: return nil
            }
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        let description: String
    }

    /// Parses `text` with Yams; refuses values a compose file has no use for (floats, dates, binary).
    static func parse(_ text: String) throws -> Node {
        try node(Yams.load(yaml: text) as Any?)
    }

    private static func node(_ value: Any?) throws -> Node {
        switch value {
        case nil, is NSNull: return .null
        case let bool as Bool: return .bool(bool)
        case let int as Int: return .int(int)
        case let string as String: return .string(string)
        case let list as [Any]: return .list(try list.map { try node($0) })
        case let map as [AnyHashable: Any]:
            var result: [String: Node] = [:]
            for (key, value) in map { result["\(key.base)"] = try node(value) }
            return .map(result)
        default: throw ParseError(description: "unexpected YAML value \(String(describing: value))")
        }
    }
}
