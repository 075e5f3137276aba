import Logging
import SwitchboardChat

/// Everything `switchboard serve` can be told, from flags, `SWITCHBOARD_*` environment variables, a
/// configuration file, or the defaults: the server's configuration plus how the process logs.
///
/// Defaults are the configuration types' own (``ServerConfiguration``); ``Setting/all`` names every key.
struct ServeSettings: Sendable {
    var server = ServerConfiguration()
    /// `--log-level`.
    var logLevel: Logger.Level = .info
    /// `--log-format`.
    var logFormat: LogFormat = .text

    /// Checks every value; the error names the flag and its range.
    func validate() throws(ConfigurationError) {
        try server.validate()
    }
}
