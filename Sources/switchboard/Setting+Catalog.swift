import Logging
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardDatabase
import SwitchboardWeb

extension Setting {
    /// Every setting of `switchboard serve`, in the order `switchboard config --show` prints them. A flag
    /// added to ``ServeOptions`` needs its line here (`ConfigurationEndToEndTests` fails until it has one).
    ///
    /// `live`: what SIGHUP applies to a running server — limits, flood control, notices, trusted proxies,
    /// the log level (and certificates, which are files, not settings). The rest is logged as needing a
    /// restart and left alone.
    static let all: [Setting] = [
        .list("listen", \.server.endpoints, live: false,
              parse: { text in
                  if let address = Serve.unbracketedIPv6Interface(text) {
                      throw SettingError("invalid endpoint '\(text)': put an IPv6 address in brackets: interface=[\(address)]")
                  }
                  do { return try Endpoint(parsing: text) } catch { throw SettingError("\(error)") }
              },
              show: { $0.specification }),
        .list("admin", \.server.adminEndpoints, live: false,
              parse: { text in
                  let endpoint: Endpoint
                  do { endpoint = try Endpoint(parsing: text) } catch { throw SettingError("\(error)") }
                  guard case .unix = endpoint else {
                      throw SettingError("must be a unix:PATH endpoint (every peer there is an operator)")
                  }
                  return endpoint
              },
              show: { $0.specification }),
        .text("database", \.server.database, live: false, secret: true,
              parse: { text in
                  do { return try DatabaseURL(parsing: text) } catch let error as DatabaseError {
                      throw SettingError(error.message)
                  }
              },
              show: { $0.redacted }),
        .integer("max-line", \.server.chat.maximumLineLength, live: true),
        .integer("max-clients", \.server.chat.maximumClients, live: true),
        .integer("max-per-ip", \.server.chat.maximumClientsPerAddress, live: true),
        .integer("max-sendq", \.server.chat.maximumSendQueueBytes, live: false),
        .number("flood-rate", \.server.chat.floodRate, live: true),
        .number("flood-burst", \.server.chat.floodBurst, live: true),
        .seconds("idle-timeout", \.server.chat.idleTimeout, live: true),
        .integer("notice-rate", \.server.chat.noticeRate, live: true),
        .boolean("allow-plain-oper", \.server.chat.allowPlainOper, live: true),
        .integer("history-on-join", \.server.chat.historyOnJoin, live: true),
        .seconds("identify-grace", \.server.chat.identifyGrace, live: true),
        .integer("visitor-number-block", \.server.chat.visitorNumberBlock, live: false),
        .integer("db-threads", \.server.databaseThreads, live: false),
        .seconds("db-connect-timeout", \.server.databaseConnectTimeout, live: false),
        .seconds("server-timeout", \.server.serverTimeout, live: false),
        .integer("history-queue", \.server.historyQueueLimit, live: false),
        .integer("history-queue-bytes", \.server.historyQueueBytes, live: false),
        .text("spool-dir", \.server.spoolDirectory, live: false,
              parse: { $0 }, show: { $0 }),
        .integer("spool-max", \.server.spoolMaximumBytes, live: false),
        .integer("cluster-inbox", \.server.clusterInboxLimit, live: false),
        .integer("cluster-inbox-bytes", \.server.clusterInboxBytes, live: false),
        .integer("cluster-send-rate", \.server.clusterSendRate, live: false),
        .seconds("shutdown-timeout", \.server.shutdownTimeout, live: false),
        .seconds("tls-handshake-timeout", \.server.tlsHandshakeTimeout, live: false),
        .seconds("tls-reload-interval", \.server.tlsReloadInterval, live: false),
        .list("trusted-proxy", \.server.trustedProxies, live: true,
              parse: { text in
                  do { return try IPAddressRange(parsing: text) } catch { throw SettingError("\(error)") }
              },
              show: { $0.description }),
        .list("web", \.web.endpoints, live: false, parse: { try ServeSettings.webEndpoint($0) }, show: { $0.specification }),
        .list("web-origin", \.web.allowedOrigins, live: false,
              parse: { text in
                  guard WebOrigin(parsing: text) != nil else {
                      throw SettingError("web origin '\(text)' must be a scheme and host, with a port if not the default: https://chat.example:8443")
                  }
                  return text
              },
              show: { $0 }),
        .list("metrics", \.metrics, live: false, parse: { try ServeSettings.webEndpoint($0) }, show: { $0.specification }),
        .text("log-level", \.logLevel, live: true,
              parse: { text in
                  guard let level = Logger.Level(rawValue: text) else {
                      throw SettingError("must be trace, debug, info, notice, warning, error or critical")
                  }
                  return level
              },
              show: { $0.rawValue }),
        .text("log-format", \.logFormat, live: false,
              parse: { text in
                  guard let format = LogFormat(rawValue: text) else { throw SettingError("must be text or json") }
                  return format
              },
              show: { $0.rawValue }),
    ]

    /// The setting for `key`.
    static func named(_ key: String) -> Setting? { all.first { $0.key == key } }
}
