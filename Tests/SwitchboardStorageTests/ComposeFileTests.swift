import Foundation
import XCTest

/// Checks `docker-compose.yml` and `Dockerfile` without a Docker engine: the services are wired the way
/// `docker compose up` needs (PostgreSQL healthy before Switchboard starts, the same credentials on both
/// sides, data on a named volume, ports published).
///
/// The compose file is read with ``ComposeYAML``, a small parser for the block-style subset compose files
/// use; when python3 with PyYAML is present, a test checks that it reads the file exactly as PyYAML does.
final class ComposeFileTests: XCTestCase {
    /// The package root: this file is `Tests/SwitchboardStorageTests/ComposeFileTests.swift`.
    private static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func compose() throws -> ComposeYAML.Node {
        let url = Self.root.appendingPathComponent("docker-compose.yml")
        return try ComposeYAML.parse(String(contentsOf: url, encoding: .utf8))
    }

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
        let dependsOn = try XCTUnwrap(try service("switchboard")["depends_on"], "switchboard has no depends_on")
        XCTAssertEqual(dependsOn["postgres"]?["condition"]?.text, "service_healthy")
    }

    /// The database URL in switchboard's command reaches the `postgres` service with its user, password and
    /// database.
    func testSwitchboardDatabaseURLMatchesPostgresService() throws {
        let switchboard = try service("switchboard")
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

    /// The chat port is published.
    func testSwitchboardPublishesPort8000() throws {
        let published = ports(of: try service("switchboard"))
        XCTAssertTrue(
            published.contains { $0.target == "8000" && ($0.published == "8000" || $0.published.hasSuffix(":8000")) },
            "\(published)")
    }

    /// ``ComposeYAML`` reads docker-compose.yml exactly as PyYAML does (skipped when PyYAML is unavailable).
    func testParserAgreesWithPyYAML() throws {
        let path = Self.root.appendingPathComponent("docker-compose.yml").path
        let script = """
            import json, sys
            try:
                import yaml
            except ImportError:
                sys.exit(3)
            def tag(x):
                if isinstance(x, bool): return ["bool", "true" if x else "false"]
                if isinstance(x, int): return ["int", str(x)]
                if x is None: return ["null"]
                if isinstance(x, str): return ["str", x]
                if isinstance(x, list): return ["list", [tag(i) for i in x]]
                if isinstance(x, dict): return ["map", {str(k): tag(v) for k, v in x.items()}]
                return ["other", repr(x)]
            with open(sys.argv[1]) as f:
                print(json.dumps(tag(yaml.safe_load(f))))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw XCTSkip("python3 is not available") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 3 || process.terminationStatus == 127 {
            throw XCTSkip("python3 with PyYAML is not available")
        }
        XCTAssertEqual(process.terminationStatus, 0)
        let expected = try ComposeYAML.Node(tagged: JSONSerialization.jsonObject(with: data))
        XCTAssertEqual(try compose(), expected)
    }

    /// The parser handles the forms compose files use, and refuses what it does not understand.
    func testParserSubset() throws {
        let text = """
            # comment
            a:
              b: "quoted # not a comment"   # a comment
              c: 'it''s'
              d: [x, "y, z", 3]
              e:
              - one
              - k: v
                l: 2
            f: true
            g: ~
            """
        let node = try ComposeYAML.parse(text)
        XCTAssertEqual(node["a"]?["b"], .string("quoted # not a comment"))
        XCTAssertEqual(node["a"]?["c"], .string("it's"))
        XCTAssertEqual(node["a"]?["d"], .list([.string("x"), .string("y, z"), .int(3)]))
        XCTAssertEqual(node["a"]?["e"], .list([.string("one"), .map(["k": .string("v"), "l": .int(2)])]))
        XCTAssertEqual(node["f"], .bool(true))
        XCTAssertEqual(node["g"], .null)
        XCTAssertThrowsError(try ComposeYAML.parse("a: |\n  block\n"))
        XCTAssertThrowsError(try ComposeYAML.parse("a: &anchor 1\n"))
    }
}

/// Just enough YAML for a compose file: block mappings and sequences by indentation, flow sequences of
/// scalars, plain/single-/double-quoted scalars, comments. Anything else (block scalars, anchors, flow
/// mappings with nesting, tags) is refused rather than misread.
enum ComposeYAML {
    enum Node: Equatable {
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

        /// From the `["kind", value]` form the PyYAML cross-check prints.
        init(tagged object: Any) throws {
            guard let pair = object as? [Any], let kind = pair.first as? String else { throw ParseError("bad tag") }
            switch kind {
            case "str": self = .string(pair[1] as? String ?? "")
            case "int": self = .int(Int(pair[1] as? String ?? "") ?? 0)
            case "bool": self = .bool(pair[1] as? String == "true")
            case "null": self = .null
            case "list": self = .list(try (pair[1] as? [Any] ?? []).map(Node.init(tagged:)))
            case "map": self = .map(try (pair[1] as? [String: Any] ?? [:]).mapValues(Node.init(tagged:)))
            default: throw ParseError("PyYAML produced \(pair)")
            }
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private struct Line {
        var indent: Int
        var content: String
        var number: Int
    }

    static func parse(_ text: String) throws -> Node {
        var lines: [Line] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = stripComment(String(raw))
            let trimmed = content.drop(while: { $0 == " " })
            if trimmed.isEmpty || trimmed == "---" { continue }
            if content.hasPrefix("\t") { throw ParseError("line \(number + 1): tabs are not YAML indentation") }
            lines.append(Line(indent: content.count - trimmed.count, content: String(trimmed), number: number + 1))
        }
        guard !lines.isEmpty else { return .null }
        var index = 0
        let node = try block(&lines, &index, indent: lines[0].indent)
        guard index == lines.count else { throw ParseError("line \(lines[index].number): unexpected indentation") }
        return node
    }

    private static func isSequenceItem(_ content: String) -> Bool { content == "-" || content.hasPrefix("- ") }

    private static func block(_ lines: inout [Line], _ index: inout Int, indent: Int) throws -> Node {
        isSequenceItem(lines[index].content)
            ? try sequence(&lines, &index, indent: indent) : try mapping(&lines, &index, indent: indent)
    }

    private static func mapping(_ lines: inout [Line], _ index: inout Int, indent: Int) throws -> Node {
        var map: [String: Node] = [:]
        while index < lines.count, lines[index].indent == indent, !isSequenceItem(lines[index].content) {
            let line = lines[index]
            guard let colon = keyColon(line.content) else {
                throw ParseError("line \(line.number): expected key: value")
            }
            let key = try scalar(String(line.content[..<colon]), line: line.number).text ?? ""
            let rest = line.content[line.content.index(after: colon)...].drop(while: { $0 == " " })
            guard map[key] == nil else { throw ParseError("line \(line.number): duplicate key \(key)") }
            index += 1
            if !rest.isEmpty {
                map[key] = try scalar(String(rest), line: line.number)
            } else if index < lines.count, lines[index].indent > indent {
                map[key] = try block(&lines, &index, indent: lines[index].indent)
            } else if index < lines.count, lines[index].indent == indent, isSequenceItem(lines[index].content) {
                map[key] = try sequence(&lines, &index, indent: indent)
            } else {
                map[key] = .null
            }
        }
        return .map(map)
    }

    private static func sequence(_ lines: inout [Line], _ index: inout Int, indent: Int) throws -> Node {
        var items: [Node] = []
        while index < lines.count, lines[index].indent == indent, isSequenceItem(lines[index].content) {
            let line = lines[index]
            let rest = line.content.dropFirst().drop(while: { $0 == " " })
            if rest.isEmpty {
                index += 1
                guard index < lines.count, lines[index].indent > indent else { items.append(.null); continue }
                items.append(try block(&lines, &index, indent: lines[index].indent))
            } else if keyColon(String(rest)) != nil || isSequenceItem(String(rest)) {
                // "- key: value" opens a mapping (or "- - x" a sequence) indented to where its text starts.
                let childIndent = indent + (line.content.count - rest.count)
                lines[index] = Line(indent: childIndent, content: String(rest), number: line.number)
                items.append(try block(&lines, &index, indent: childIndent))
            } else {
                items.append(try scalar(String(rest), line: line.number))
                index += 1
            }
        }
        return .list(items)
    }

    /// The colon that ends a mapping key (`key:` or `key: value`), outside quotes and flow collections.
    private static func keyColon(_ content: String) -> String.Index? {
        var quote: Character?
        var depth = 0
        var index = content.startIndex
        while index < content.endIndex {
            let character = content[index]
            let next = content.index(after: index)
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "[" || character == "{" {
                depth += 1
            } else if character == "]" || character == "}" {
                depth -= 1
            } else if character == ":", depth == 0, next == content.endIndex || content[next] == " " {
                return index
            }
            index = next
        }
        return nil
    }

    /// Drops a `#` comment (at the start or after a space, outside quotes).
    private static func stripComment(_ line: String) -> String {
        var quote: Character?
        var previous: Character = " "
        var result = ""
        for character in line {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#", previous == " " {
                break
            }
            result.append(character)
            previous = character
        }
        while result.last == " " { result.removeLast() }
        return result
    }

    private static func scalar(_ text: String, line: Int) throws -> Node {
        guard let first = text.first else { return .null }
        switch first {
        case "\"":
            guard text.count >= 2, text.last == "\"" else { throw ParseError("line \(line): unterminated string") }
            var result = ""
            var escaping = false
            for character in text.dropFirst().dropLast() {
                if escaping {
                    switch character {
                    case "n": result.append("\n")
                    case "t": result.append("\t")
                    case "\"", "\\", "/": result.append(character)
                    default: throw ParseError("line \(line): unsupported escape \\\(character)")
                    }
                    escaping = false
                } else if character == "\\" {
                    escaping = true
                } else {
                    result.append(character)
                }
            }
            return .string(result)
        case "'":
            guard text.count >= 2, text.last == "'" else { throw ParseError("line \(line): unterminated string") }
            return .string(String(text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'"))
        case "[":
            guard text.last == "]" else { throw ParseError("line \(line): unterminated flow sequence") }
            let inner = text.dropFirst().dropLast()
            var items: [Node] = []
            var current = ""
            var quote: Character?
            for character in inner {
                if let open = quote {
                    if character == open { quote = nil }
                } else if character == "\"" || character == "'" {
                    quote = character
                } else if character == "[" || character == "{" {
                    throw ParseError("line \(line): nested flow collections are not supported")
                } else if character == "," {
                    items.append(try scalar(current.trimmingCharacters(in: .whitespaces), line: line))
                    current = ""
                    continue
                }
                current.append(character)
            }
            let last = current.trimmingCharacters(in: .whitespaces)
            if !last.isEmpty || !items.isEmpty { items.append(try scalar(last, line: line)) }
            return .list(items)
        case "{", "|", ">", "&", "*", "!", "%", "@", "`":
            throw ParseError("line \(line): '\(first)' (flow mappings, block scalars, anchors, tags) is not supported")
        default:
            switch text {
            case "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: break
            }
            if let value = Int(text), !text.hasPrefix("+"), text == String(value) { return .int(value) }
            return .string(text)
        }
    }
}
