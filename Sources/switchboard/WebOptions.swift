import ArgumentParser
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardWeb

/// `serve`'s options for the web listener and the metrics endpoint (issue 25), kept apart from the chat's.
struct WebOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Serve the chat page, /chat (WebSocket), /stats and /api/stats here; repeatable. Off by default. tcp:PORT[:interface=ADDR], unix:PATH.",
        valueName: "endpoint"))
    var web: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "Another origin allowed to open /chat (scheme://host[:port]); repeatable. Default: only the page's own.",
        valueName: "origin"))
    var webOrigin: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "Serve Prometheus metrics at /metrics here; repeatable. Off by default. Keep it private: tcp:9100:interface=127.0.0.1.",
        valueName: "endpoint"))
    var metrics: [String] = []

    /// The web listener's configuration, or `nil` when `--web` is not given.
    func makeWebConfiguration() throws -> WebConfiguration? {
        guard !web.isEmpty else { return nil }
        var configuration = WebConfiguration()
        configuration.endpoints = try web.map { try WebOptions.plainEndpoint($0, option: "--web") }
        configuration.allowedOrigins = Set(webOrigin)
        return configuration
    }

    func validate() throws {
        if !webOrigin.isEmpty && web.isEmpty { throw ValidationError("--web-origin needs --web") }
        _ = try metricsEndpoints()
        do {
            try makeWebConfiguration()?.validate()
        } catch let error as WebConfigurationError {
            throw ValidationError(error.description)
        }
    }

    /// Attaches what these options ask for to `server`.
    func attach(to server: ChatServer) throws {
        if let configuration = try makeWebConfiguration() { server.attach(WebServer(configuration: configuration)) }
        if !metrics.isEmpty { server.attach(MetricsServer(endpoints: try metricsEndpoints())) }
    }

    private func metricsEndpoints() throws -> [Endpoint] {
        try metrics.map { try WebOptions.plainEndpoint($0, option: "--metrics") }
    }

    /// A `tcp:` or `unix:` endpoint: the web and metrics listeners do not terminate TLS or read PROXY headers
    /// yet (put them behind a TLS-terminating proxy, or keep them on a private interface).
    static func plainEndpoint(_ text: String, option: String) throws -> Endpoint {
        let endpoint: Endpoint
        do { endpoint = try Endpoint(parsing: text) } catch { throw ValidationError("\(option): \(error)") }
        switch endpoint {
        case .tcp, .unix: return endpoint
        default: throw ValidationError("\(option) takes tcp: or unix: endpoints (not ssl:, haproxy: or systemd: yet): \(text)")
        }
    }
}
