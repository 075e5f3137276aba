import Logging
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardWeb

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
    /// `--web` and `--web-origin`: the web listener, when `web.endpoints` is not empty.
    var web = WebConfiguration()
    /// `--metrics`: where Prometheus' `/metrics` is served; empty: nowhere.
    var metrics: [Endpoint] = []

    /// Checks every value; the error names the flag and its range.
    func validate() throws(ConfigurationError) {
        try server.validate()
        if !web.allowedOrigins.isEmpty && web.endpoints.isEmpty {
            throw ConfigurationError("--web-origin needs --web (the origins are those allowed to open its /chat)")
        }
        do {
            try web.validate()
        } catch {
            throw ConfigurationError(error.description)
        }
    }

    /// The web listener and the metrics endpoint these settings ask for, attached to `server` (before it starts).
    func attachWeb(to server: ChatServer) {
        if !web.endpoints.isEmpty { server.attach(WebServer(configuration: web)) }
        if !metrics.isEmpty { server.attach(MetricsServer(endpoints: metrics)) }
    }

    /// A `tcp:`, `unix:` or `ssl:` endpoint for `--web` or `--metrics` (those listeners read no PROXY header and
    /// take no socket from systemd yet).
    static func webEndpoint(_ text: String) throws(SettingError) -> Endpoint {
        let endpoint: Endpoint
        do { endpoint = try Endpoint(parsing: text) } catch { throw SettingError("\(error)") }
        switch endpoint {
        case .tcp, .unix, .ssl: return endpoint
        default: throw SettingError("the web and metrics listeners take tcp:, unix: or ssl: endpoints (not haproxy: or systemd: yet): \(text)")
        }
    }
}
