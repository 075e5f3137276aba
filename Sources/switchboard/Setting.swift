import Configuration
import Logging
import NIOCore

/// One setting of `switchboard serve`: one flag (`--max-clients`), one configuration-file key
/// (`max-clients`), one environment variable (`SWITCHBOARD_MAX_CLIENTS`), one place in ``ServeSettings``.
/// ``all`` lists them; the flags are ``ServeOptions``, and a test checks the two lists agree.
///
/// Values from the file and the environment are read through swift-configuration as ``type``; each setting
/// turns the value into its field (an endpoint string into an ``Endpoint``, seconds into a `TimeAmount`) or
/// says why it cannot.
struct Setting: Sendable {
    /// The file key, and the flag without its dashes.
    let key: String
    /// What swift-configuration reads the value as.
    let type: ConfigType
    /// Shown as `***` where it holds a password (the database URL's).
    let isSecret: Bool
    /// Whether a change takes effect on SIGHUP; otherwise it waits for a restart.
    let changesLive: Bool
    /// Reads `content` into `settings`; throws a ``SettingError`` saying why it cannot.
    let read: @Sendable (ConfigContent, inout ServeSettings) throws -> Void
    /// The value in `settings` as YAML (a scalar, or a flow sequence), or `nil` when it is not set.
    let show: @Sendable (ServeSettings) -> String?
    /// Whether two settings hold the same value of this setting.
    let isSame: @Sendable (ServeSettings, ServeSettings) -> Bool
    /// Copies this setting's value from one settings value into another (a live change on SIGHUP).
    let copy: @Sendable (ServeSettings, inout ServeSettings) -> Void

    /// `--max-clients`.
    var flag: String { "--" + key }
    /// `SWITCHBOARD_MAX_CLIENTS`.
    var environmentVariable: String { "SWITCHBOARD_" + key.uppercased().replacing("-", with: "_") }
    /// The key as swift-configuration names it.
    var configKey: AbsoluteConfigKey { AbsoluteConfigKey([key]) }

    /// A setting stored at `path`, parsed from the content by `parse` and shown by `show`.
    static func field<Value: Equatable & Sendable>(
        _ key: String, _ path: WritableKeyPath<ServeSettings, Value> & Sendable, type: ConfigType, live: Bool,
        secret: Bool = false, parse: @escaping @Sendable (ConfigContent) throws -> Value,
        show: @escaping @Sendable (Value) -> String?
    ) -> Setting {
        Setting(
            key: key, type: type, isSecret: secret, changesLive: live,
            read: { content, settings in settings[keyPath: path] = try parse(content) },
            show: { show($0[keyPath: path]) },
            isSame: { $0[keyPath: path] == $1[keyPath: path] },
            copy: { from, to in to[keyPath: path] = from[keyPath: path] })
    }

    // MARK: - Kinds of values

    static func integer<Value: FixedWidthInteger & Sendable>(
        _ key: String, _ path: WritableKeyPath<ServeSettings, Value> & Sendable, live: Bool
    ) -> Setting {
        field(key, path, type: .int, live: live, parse: { content in
            switch content {
            case .int(let value): if let exact = Value(exactly: value) { return exact }
            case .string(let text): if let value = Value(text) { return value }
            default: break
            }
            throw SettingError("must be a whole number")
        }, show: { "\($0)" })
    }

    static func number(
        _ key: String, _ path: WritableKeyPath<ServeSettings, Double> & Sendable, live: Bool
    ) -> Setting {
        field(key, path, type: .double, live: live, parse: { content in
            try Setting.double(content)
        }, show: { Setting.format($0) })
    }

    /// Seconds, kept as a `TimeAmount` (millisecond precision, as on the command line).
    static func seconds(
        _ key: String, _ path: WritableKeyPath<ServeSettings, TimeAmount> & Sendable, live: Bool
    ) -> Setting {
        field(key, path, type: .double, live: live, parse: { content in
            .seconds(try Setting.double(content))
        }, show: { Setting.format($0.seconds) })
    }

    /// On or off: `true`/`false` (YAML, JSON), or the text `true`/`false`/`1`/`0` (the environment).
    static func boolean(
        _ key: String, _ path: WritableKeyPath<ServeSettings, Bool> & Sendable, live: Bool
    ) -> Setting {
        field(key, path, type: .bool, live: live, parse: { content in
            switch content {
            case .bool(let value): return value
            case .string("true"), .string("1"): return true
            case .string("false"), .string("0"): return false
            default: throw SettingError("must be true or false")
            }
        }, show: { $0 ? "true" : "false" })
    }

    /// A list: a YAML/JSON sequence, one string (a one-element list), or comma-separated in the environment.
    static func list<Element: Equatable & Sendable>(
        _ key: String, _ path: WritableKeyPath<ServeSettings, [Element]> & Sendable, live: Bool,
        parse: @escaping @Sendable (String) throws -> Element, show: @escaping @Sendable (Element) -> String
    ) -> Setting {
        field(key, path, type: .stringArray, live: live, parse: { content in
            switch content {
            case .stringArray(let texts): return try texts.map(parse)
            case .string(let text): return [try parse(text)]
            default: throw SettingError("must be a list of strings")
            }
        }, show: { values in "[" + values.map { Setting.quoted(show($0)) }.joined(separator: ", ") + "]" })
    }

    /// One string, parsed into a value.
    static func text<Value: Equatable & Sendable>(
        _ key: String, _ path: WritableKeyPath<ServeSettings, Value> & Sendable, live: Bool, secret: Bool = false,
        parse: @escaping @Sendable (String) throws -> Value, show: @escaping @Sendable (Value) -> String?
    ) -> Setting {
        field(key, path, type: .string, live: live, secret: secret, parse: { content in
            guard case .string(let text) = content else { throw SettingError("must be a string") }
            return try parse(text)
        }, show: { show($0).map(Setting.quoted) })
    }

    // MARK: - Helpers

    static func double(_ content: ConfigContent) throws -> Double {
        switch content {
        case .double(let value): return value
        case .int(let value): return Double(value)
        case .string(let text): if let value = Double(text) { return value }
        default: break
        }
        throw SettingError("must be a number")
    }

    /// `10`, `0.5`: whole numbers without a fraction.
    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// A YAML double-quoted scalar (JSON's string syntax, which YAML reads).
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}

/// Why a setting's value cannot be used (the loader adds the key and where the value came from).
struct SettingError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
