/// Where a setting's value came from, highest precedence first.
enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    /// A command-line flag (`--max-clients`).
    case flag(String)
    /// An environment variable (`SWITCHBOARD_MAX_CLIENTS`, or `DATABASE_URL`).
    case environment(String)
    /// The configuration file (`--config PATH`).
    case file(String)
    /// The configuration types' default.
    case `default`

    var description: String {
        switch self {
        case .flag(let flag): return "flag \(flag)"
        case .environment(let name): return "environment \(name)"
        case .file(let path): return "file \(path)"
        case .default: return "default"
        }
    }
}
