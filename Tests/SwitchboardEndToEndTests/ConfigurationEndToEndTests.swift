import Foundation
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The configuration file, `SWITCHBOARD_*` environment variables and flags, with the real binary: every flag
/// is a key and a variable, the precedence, `switchboard config --show` (passwords as `***`), bad files at
/// start, and SIGHUP applying what changes live while a file changed to nonsense changes nothing.
final class ConfigurationEndToEndTests: XCTestCase {
    /// A valid value other than the default for every setting, as a flag takes it. A flag added to `serve`
    /// without a line here fails ``testEveryFlagIsAKeyAndAnEnvironmentVariable``: add one.
    static let examples: [String: String] = [
        "listen": "tcp:9000:interface=127.0.0.1", "database": "sqlite:example.sqlite", "max-line": "2048",
        "max-clients": "500", "max-per-ip": "5", "max-sendq": "524288", "flood-rate": "5", "flood-burst": "10",
        "idle-timeout": "600", "notice-rate": "5", "visitor-number-block": "64", "db-threads": "4",
        "db-connect-timeout": "60", "server-timeout": "30", "history-queue": "50000",
        "history-queue-bytes": "33554432", "spool-dir": "/var/lib/switchboard/spool", "spool-max": "1048576",
        "cluster-inbox": "5000", "cluster-inbox-bytes": "4194304", "cluster-send-rate": "2097152", "shutdown-timeout": "20", "tls-handshake-timeout": "5",
        "tls-reload-interval": "300", "trusted-proxy": "10.0.0.0/8", "log-level": "debug", "log-format": "json",
        "allow-plain-oper": "true", "admin": "unix:/run/switchboard/admin.sock", "history-on-join": "25", "identify-grace": "120",
        "web": "tcp:8080:interface=127.0.0.1", "web-origin": "https://chat.example", "metrics": "tcp:9100:interface=127.0.0.1",
    ]

    /// Settings whose flag takes no value (giving the flag means `true`).
    static let switches: Set<String> = ["allow-plain-oper"]

    /// Options of `serve` that are not settings.
    static let notSettings: Set<String> = ["config", "help", "version"]

    private func show(_ arguments: [String] = [], environment: [String: String] = [:], in directory: URL) throws
        -> (status: Int32, lines: [String: String], output: String, errors: String)
    {
        let result = try runSwitchboard(["config", "--show"] + arguments, in: directory, environment: environment)
        var lines: [String: String] = [:]
        for line in result.output.split(separator: "\n") where !line.hasPrefix("# switchboard") {
            let text = line.hasPrefix("# ") ? line.dropFirst(2) : line[...]
            guard let colon = text.firstIndex(of: ":") else { continue }
            lines[String(text[..<colon])] = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        return (result.status, lines, result.output, result.errors)
    }

    /// The flags of `serve --help` and the keys of `config --show` are the same list; and each flag, its
    /// `SWITCHBOARD_*` variable and its file key reach the setting (`config --show` names where each value
    /// came from).
    func testEveryFlagIsAKeyAndAnEnvironmentVariable() throws {
        let directory = try makeTemporaryDirectory()
        let help = try runSwitchboard(["serve", "--help"], in: directory)
        XCTAssertEqual(help.status, 0, help.errors)
        let flagPattern = try NSRegularExpression(pattern: #"(?m)^\s+--([a-z][a-z-]*)"#)
        let flags = Set(flagPattern.matches(in: help.output, range: NSRange(help.output.startIndex..., in: help.output))
            .map { String(help.output[Range($0.range(at: 1), in: help.output)!]) })
            .subtracting(Self.notSettings)
        let keys = Set(try show(in: directory).lines.keys)
        XCTAssertEqual(flags, keys, "flags without a key: \(flags.subtracting(keys)); keys without a flag: \(keys.subtracting(flags))")
        XCTAssertEqual(Set(Self.examples.keys), keys, "give every new setting an example value in this test")

        // Every setting at once, from each source in turn: each line must name that source.
        let examples = keys.sorted().compactMap { key in Self.examples[key].map { (key, $0) } }
        let flagged = try show(examples.flatMap { Self.switches.contains($0.0) ? ["--\($0.0)"] : ["--\($0.0)", $0.1] }, in: directory)
        XCTAssertEqual(flagged.status, 0, flagged.errors)
        let variables = Dictionary(uniqueKeysWithValues: examples.map { key, example in
            ("SWITCHBOARD_" + key.uppercased().replacingOccurrences(of: "-", with: "_"), example)
        })
        let environment = try show(environment: variables, in: directory)
        XCTAssertEqual(environment.status, 0, environment.errors)
        let file = directory.appendingPathComponent("every-key.yaml")
        try Data(examples.map { "\($0.0): \($0.1)\n" }.joined().utf8).write(to: file)
        let fromFile = try show(["--config", file.path], in: directory)
        XCTAssertEqual(fromFile.status, 0, fromFile.errors)
        for (key, _) in examples {
            let variable = "SWITCHBOARD_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
            XCTAssertTrue(flagged.lines[key]?.contains("# flag --\(key)") == true, "\(key): \(flagged.lines[key] ?? "missing")")
            XCTAssertTrue(environment.lines[key]?.contains("# environment \(variable)") == true,
                          "\(key): \(environment.lines[key] ?? "missing")")
            XCTAssertTrue(fromFile.lines[key]?.contains("# file \(file.path)") == true, "\(key): \(fromFile.lines[key] ?? "missing")")
            // The same value whichever way it came.
            XCTAssertEqual(flagged.lines[key]?.split(separator: "#").first, fromFile.lines[key]?.split(separator: "#").first, key)
        }
    }

    /// Flags beat the environment, which beats the file, which beats the defaults; JSON files work too, and
    /// `SWITCHBOARD_CONFIG` names the file when `--config` does not.
    func testPrecedenceIsFlagsThenEnvironmentThenFileThenDefaults() throws {
        let directory = try makeTemporaryDirectory()
        let yaml = directory.appendingPathComponent("switchboard.yaml")
        try Data("max-clients: 100\nflood-rate: 2.5\nlisten:\n  - tcp:7001\n  - unix:/tmp/sb.sock\n".utf8).write(to: yaml)
        let environment = ["SWITCHBOARD_MAX_CLIENTS": "200", "SWITCHBOARD_CONFIG": yaml.path]

        let all = try show(["--max-clients", "300"], environment: environment, in: directory)
        XCTAssertEqual(all.lines["max-clients"]?.hasPrefix("300"), true, all.output)
        let noFlag = try show(environment: environment, in: directory)
        XCTAssertEqual(noFlag.lines["max-clients"]?.hasPrefix("200"), true, noFlag.output)
        let fileOnly = try show(environment: ["SWITCHBOARD_CONFIG": yaml.path], in: directory)
        XCTAssertEqual(fileOnly.lines["max-clients"]?.hasPrefix("100"), true, fileOnly.output)
        XCTAssertEqual(fileOnly.lines["flood-rate"]?.hasPrefix("2.5"), true, fileOnly.output)
        XCTAssertEqual(fileOnly.lines["listen"]?.hasPrefix(#"["tcp:7001:interface=0.0.0.0", "unix:/tmp/sb.sock"]"#), true, fileOnly.output)
        let defaults = try show(in: directory)
        XCTAssertEqual(defaults.lines["max-clients"], "10000                      # default")

        let json = directory.appendingPathComponent("switchboard.json")
        try Data(#"{"max-clients": 42, "trusted-proxy": ["10.0.0.0/8", "192.0.2.7"]}"#.utf8).write(to: json)
        let fromJSON = try show(["--config", json.path], in: directory)
        XCTAssertEqual(fromJSON.lines["max-clients"]?.hasPrefix("42"), true, fromJSON.output)
        XCTAssertEqual(fromJSON.lines["trusted-proxy"]?.hasPrefix(#"["10.0.0.0/8", "192.0.2.7/32"]"#), true, fromJSON.output)
    }

    /// `config --show` prints database passwords as `***`, wherever the URL came from.
    func testShowPrintsPasswordsAsStars() throws {
        let directory = try makeTemporaryDirectory()
        let file = directory.appendingPathComponent("secret.yaml")
        try Data("database: postgres://chat:s3cret-in-file@db.example/chat\n".utf8).write(to: file)
        let fromFile = try show(["--config", file.path], in: directory)
        XCTAssertTrue(fromFile.output.contains("postgres://chat:***@db.example/chat"), fromFile.output)
        XCTAssertFalse(fromFile.output.contains("s3cret"), fromFile.output)
        let fromEnvironment = try show(environment: ["DATABASE_URL": "postgres://chat@db.example/chat?password=s3cret-env"], in: directory)
        XCTAssertFalse(fromEnvironment.output.contains("s3cret"), fromEnvironment.output)
        XCTAssertTrue(fromEnvironment.lines["database"]?.contains("# environment DATABASE_URL") == true, fromEnvironment.output)
        let fromFlag = try show(["--database", "postgresql://chat:s3cret-flag@db.example:5433/chat"], in: directory)
        XCTAssertFalse(fromFlag.output.contains("s3cret"), fromFlag.output)
    }

    /// A bad configuration at start is one clear line naming the key and the file (or variable), exit 1,
    /// before anything listens: a misspelt key (with a guess), a value of the wrong type, one out of range,
    /// a file that is not YAML, a file that is not there.
    func testABadConfigurationAtStartIsOneClearErrorNamingTheKeyAndTheFile() throws {
        let directory = try makeTemporaryDirectory()
        let file = directory.appendingPathComponent("bad.yaml")
        // Each file listens on an ephemeral port, so a case that wrongly starts cannot take a real one.
        let listen = "listen: tcp:0:interface=127.0.0.1\n"
        let cases: [(contents: String?, environment: [String: String], error: String)] = [
            (listen + "max-client: 5\n", [:], "configuration file \(file.path): unknown key 'max-client' (did you mean max-clients?"),
            (listen + "max-clients: lots\n", [:], "\(file.path): max-clients: must be a whole number"),
            (listen + "max-line: 3\n", [:], "invalid configuration: --max-line must be from 16 to 65536 (max-line: 3 from file \(file.path))"),
            ("listen: [\"tcp:port\"]\n", [:], "\(file.path): listen: invalid endpoint 'tcp:port'"),
            (listen + "max-clients: [1, 2]\n", [:], "\(file.path): max-clients: must be a whole number"),
            (listen + "flood-rate: {fast: yes}\n", [:], "\(file.path): flood-rate: must be a number"),
            ("max-clients: [\n  {{{\n", [:], "configuration file \(file.path): not valid YAML"),
            ("- max-clients\n", [:], "configuration file \(file.path): must be a mapping of keys to values"),
            (nil, [:], "configuration file \(file.path): No such file or directory"),
            (listen, ["SWITCHBOARD_FLOOD_RATE": "fast"], "SWITCHBOARD_FLOOD_RATE: must be a number"),
        ]
        for (contents, environment, error) in cases {
            try? FileManager.default.removeItem(at: file)
            if let contents { try Data(contents.utf8).write(to: file) }
            let result = try runSwitchboard(
                ["serve", "--config", file.path, "--database", "sqlite:db.sqlite"], in: directory, environment: environment)
            XCTAssertEqual(result.status, 1, "\(contents ?? "no file"): \(result.errors)")
            XCTAssertTrue(result.errors.contains("switchboard: \(error)"), "\(contents ?? "no file"): \(result.errors)")
            XCTAssertEqual(result.errors.split(separator: "\n").count, 1, result.errors)
            XCTAssertFalse(result.errors.contains("listening"), result.errors)
        }
    }

    /// SIGHUP re-reads the file: live settings change at once (max-clients lowered: the next client is
    /// refused; the log level raised: debug lines appear), each logged as a change; a setting that needs a
    /// restart is logged as such and left alone. Then the file changes to nonsense (not YAML, then a value
    /// out of range): each reload is refused with an error, the settings in use stay, everyone already
    /// connected chats on and newcomers are still let in under the old limit.
    func testSighupAppliesLiveChangesAndAFileChangedToNonsenseChangesNothing() throws {
        let directory = try makeTemporaryDirectory()
        let file = directory.appendingPathComponent("switchboard.yaml")
        try Data("max-clients: 3\ndb-threads: 2\nlog-level: info\n".utf8).write(to: file)
        let server = try ServerProcess.serve(
            database: "sqlite:\(directory.path)/db.sqlite", in: directory, extraArguments: ["--config", file.path],
            logLevel: nil)
        defer { server.terminate() }
        let pid = server.process.processIdentifier

        let (alice, _) = try joinClient(server)
        try Data("max-clients: 1\ndb-threads: 4\nlog-level: debug\n".utf8).write(to: file)
        kill(pid, SIGHUP)
        // log-level is the last key: its line comes after the others.
        let log = try server.waitForLog(containing: "key=log-level source=file \(file.path) to=\"debug\"")
        XCTAssertTrue(log.contains("from=3 key=max-clients source=file \(file.path) to=1"), log)
        XCTAssertTrue(log.contains("configured=4 key=db-threads running=2") && log.contains("configuration change needs a restart; not applied"), log)
        XCTAssertTrue(log.contains("from=\"info\" key=log-level"), log)
        let refused = try LineClient(port: server.port)
        XCTAssertEqual(refused.readUntilClosed(), ["! server full"])

        // Nonsense: not YAML at all, then a value out of range. Each reload is refused; max-clients stays 1.
        for (index, nonsense) in ["max-clients: [\n  {{{\n", "max-clients: 1\nmax-line: 1\n"].enumerated() {
            try Data(nonsense.utf8).write(to: file)
            kill(pid, SIGHUP)
            let log = try server.waitForLog(containing: "configuration not reloaded; the settings in use stay", count: index + 1)
            XCTAssertTrue(log.contains(index == 0 ? "not valid YAML" : "--max-line must be from 16 to 65536"), log)
            let stillFull = try LineClient(port: server.port)
            XCTAssertEqual(stillFull.readUntilClosed(), ["! server full"], nonsense)
        }
        alice.send("/count\r\n")
        alice.expect("* 1 client connected, 1 visit in total")
        XCTAssertEqual(server.terminate(), 0)
        // The log level the first reload raised held: the stop's debug lines are there.
        XCTAssertTrue(server.logText.contains(" debug switchboard:"), server.logText)
    }
}
