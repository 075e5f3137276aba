import ArgumentParser
import Configuration
import Foundation
import Yams

/// Reads ``ServeSettings`` through swift-configuration from, highest precedence first: the flags given
/// (an `InMemoryProvider`), `SWITCHBOARD_*` environment variables (an `EnvironmentVariablesProvider` with
/// the `switchboard` prefix; `DATABASE_URL` too, below `SWITCHBOARD_DATABASE`), the configuration file
/// (`--config` or `SWITCHBOARD_CONFIG`: a `YAMLSnapshot`, or a `JSONSnapshot` for `.json`), and the
/// defaults of the configuration types.
///
/// ```yaml
/// # /etc/switchboard.yaml: the keys are the flags without their dashes
/// listen: ["tcp:8000", "ssl:6697:privateKey=/etc/ssl/chat.key:certKey=/etc/ssl/chat.pem"]
/// database: postgres://switchboard@db/chat
/// max-clients: 5000
/// ```
/// Every value read is checked: a key the file does not know, a value of the wrong type, or one out of range
/// is an error that names the key and where the value came from. ``load()`` reads the file again each
/// time (SIGHUP); the flags and the environment are those the process started with.
///
/// Immutable and `Sendable`. ``load()`` reads a file: call it off the event loops.
struct ConfigurationLoader: Sendable {
    /// The flags given, by key.
    let flags: [String: ConfigContent]
    /// The process environment (tests pass their own).
    let environment: [String: String]
    /// The configuration file, if any.
    let file: String?

    init(flags: [String: ConfigContent], environment: [String: String], file: String?) {
        self.flags = flags
        self.environment = environment
        self.file = file ?? environment["SWITCHBOARD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Settings and where each came from.
    struct Loaded: Sendable {
        var settings: ServeSettings
        /// Keyed by ``Setting/key``.
        var sources: [String: SettingSource]
    }

    /// One place values come from, and how to name it in an error.
    private struct Layer {
        let lookup: (Setting) throws -> ConfigContent?
        let source: (Setting) -> SettingSource
    }

    /// ``load()`` for a command: a configuration that cannot be loaded is one line on standard error
    /// (`switchboard: …`) and exit status 1.
    func loadOrExit() throws -> Loaded {
        do {
            return try load()
        } catch {
            FileHandle.standardError.write(Data("switchboard: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Reads every setting from the layers, then checks the whole. Throws ``ConfigurationLoadError``.
    func load() throws -> Loaded {
        var layers: [Layer] = []
        let flagProvider = InMemoryProvider(
            name: "flags",
            values: Dictionary(uniqueKeysWithValues: flags.map { key, content in
                (AbsoluteConfigKey([key]), ConfigValue(content, isSecret: Setting.named(key)?.isSecret ?? false))
            }))
        layers.append(Layer(
            lookup: { try Self.lookUp($0, in: flagProvider) }, source: { .flag($0.flag) }))
        let secrets = Set(Setting.all.filter(\.isSecret).map(\.environmentVariable) + ["DATABASE_URL"])
        let environmentProvider = EnvironmentVariablesProvider(
            environmentVariables: environment.filter { !$0.value.isEmpty },
            secretsSpecifier: .dynamic { name, _ in secrets.contains(name) }
        ).prefixKeys(with: ConfigKey(["switchboard"]))
        layers.append(Layer(
            lookup: { try Self.lookUp($0, in: environmentProvider) }, source: { .environment($0.environmentVariable) }))
        // The usual variable of hosted PostgreSQL, below SWITCHBOARD_DATABASE.
        if let url = environment["DATABASE_URL"], !url.isEmpty {
            layers.append(Layer(
                lookup: { $0.key == "database" ? .string(url) : nil }, source: { _ in .environment("DATABASE_URL") }))
        }
        if let file {
            let snapshot = try Self.readFile(file)
            layers.append(Layer(lookup: { try Self.lookUp($0, in: snapshot) }, source: { _ in .file(file) }))
        }

        var settings = ServeSettings()
        var sources: [String: SettingSource] = [:]
        for setting in Setting.all {
            sources[setting.key] = .default
            for layer in layers {
                let content: ConfigContent?
                do {
                    content = try layer.lookup(setting)
                } catch {
                    throw ConfigurationLoadError(layer.source(setting), key: setting.key, reason: Self.typeReason(setting.type))
                }
                guard let content else { continue }
                do {
                    try setting.read(content, &settings)
                } catch {
                    throw ConfigurationLoadError(layer.source(setting), key: setting.key, reason: "\(error)")
                }
                sources[setting.key] = layer.source(setting)
                break
            }
        }
        do {
            try settings.validate()
        } catch {
            throw ConfigurationLoadError(invalid: error, sources: sources, settings: settings)
        }
        return Loaded(settings: settings, sources: sources)
    }

    /// A setting's value from a provider or snapshot. A value that is not of the setting's type is read as a
    /// string, which the setting parses itself: a list may be one string, a number may be quoted ("500").
    private static func lookUp(_ setting: Setting, in source: some ConfigSnapshot) throws -> ConfigContent? {
        do {
            return try source.value(forKey: setting.configKey, type: setting.type).value?.content
        } catch {
            return try source.value(forKey: setting.configKey, type: .string).value?.content
        }
    }

    private static func lookUp(_ setting: Setting, in source: some ConfigProvider) throws -> ConfigContent? {
        do {
            return try source.value(forKey: setting.configKey, type: setting.type).value?.content
        } catch {
            return try source.value(forKey: setting.configKey, type: .string).value?.content
        }
    }

    private static func typeReason(_ type: ConfigType) -> String {
        switch type {
        case .int: return "must be a whole number"
        case .double: return "must be a number"
        case .stringArray: return "must be a string or a list of strings"
        default: return "must be a string"
        }
    }

    // MARK: - The file

    /// The most a configuration file may hold.
    static let maximumFileSize = 1 << 20

    /// Reads and parses the file, and checks that every key in it is a setting.
    private static func readFile(_ path: String) throws -> any ConfigSnapshot {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ConfigurationLoadError(file: path, "is a directory")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigurationLoadError(file: path, String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maximumFileSize + 1) ?? Data()
        } catch {
            throw ConfigurationLoadError(file: path, "cannot be read")
        }
        guard data.count <= maximumFileSize else { throw ConfigurationLoadError(file: path, "larger than 1 MiB") }
        let isJSON = path.lowercased().hasSuffix(".json")
        // Keys first: a misspelt key must not be ignored. JSON is YAML too, so one parser lists both.
        let root: Node?
        do {
            root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw ConfigurationLoadError(file: path, "not valid \(isJSON ? "JSON" : "YAML"): \(Self.firstLine(error))")
        }
        guard let mapping = root?.mapping else {
            throw ConfigurationLoadError(file: path, "must be a mapping of keys to values (max-clients: 500)")
        }
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string, let setting = Setting.named(key) else {
                let name = keyNode.string ?? "?"
                let guess = Self.closestKey(to: name).map { "did you mean \($0)? " } ?? ""
                throw ConfigurationLoadError(
                    file: path,
                    "unknown key '\(name)' (\(guess)the keys are serve's flags without their dashes; switchboard config --show lists them)")
            }
            let isScalarList = valueNode.sequence?.allSatisfy { $0.scalar != nil } ?? false
            guard valueNode.scalar != nil || (setting.type == .stringArray && isScalarList) else {
                throw ConfigurationLoadError(.file(path), key: key, reason: typeReason(setting.type))
            }
        }
        do {
            let bytes = [UInt8](data)
            if isJSON {
                return try JSONSnapshot(data: bytes.span.bytes, providerName: path, parsingOptions: .default)
            }
            return try YAMLSnapshot(data: bytes.span.bytes, providerName: path, parsingOptions: .default)
        } catch {
            throw ConfigurationLoadError(file: path, "not valid \(isJSON ? "JSON" : "YAML"): \(Self.firstLine(error))")
        }
    }

    /// The known key a misspelt one most likely meant: at most two edits away.
    static func closestKey(to name: String) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for (i, x) in a.enumerated() {
                var row = [i + 1]
                for (j, y) in b.enumerated() {
                    row.append(min(previous[j + 1] + 1, row[j] + 1, previous[j] + (x == y ? 0 : 1)))
                }
                previous = row
            }
            return previous[b.count]
        }
        let scored = Setting.all.map { ($0.key, distance(Array(name.lowercased()), Array($0.key))) }
        return scored.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }

    private static func firstLine(_ error: any Error) -> String {
        "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }
}

/// The configuration cannot be used: one line naming the key and where its value came from.
struct ConfigurationLoadError: Error, CustomStringConvertible {
    let description: String

    init(_ source: SettingSource, key: String, reason: String) {
        switch source {
        case .file(let path): description = "\(path): \(key): \(reason)"
        case .environment(let name): description = "\(name): \(reason)"
        case .flag(let flag): description = "\(flag): \(reason)"
        case .default: description = "\(key): \(reason)"
        }
    }

    init(file: String, _ reason: String) {
        description = "configuration file \(file): \(reason)"
    }

    /// A whole that does not validate: the checks name a flag (`--max-line must be …`); say where that
    /// setting's value came from when it was not a flag.
    init(invalid error: any Error, sources: [String: SettingSource], settings: ServeSettings) {
        let message = "\(error)"
        guard let range = message.range(of: #"--[a-z-]+"#, options: .regularExpression),
            let setting = Setting.named(String(message[range].dropFirst(2))),
            let source = sources[setting.key], source != .flag(setting.flag), source != .default
        else {
            description = "invalid configuration: \(message)"
            return
        }
        let value = setting.isSecret ? "" : " \(setting.show(settings) ?? "")"
        description = "invalid configuration: \(message) (\(setting.key):\(value) from \(source))"
    }
}
