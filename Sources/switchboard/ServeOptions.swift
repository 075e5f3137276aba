import ArgumentParser
import Configuration
import Foundation

/// The options of `switchboard serve` (and `switchboard config`, which shows what they add up to). Each is
/// optional: given, it overrides the environment (`SWITCHBOARD_…`), the configuration file and the default,
/// in that order (``ConfigurationLoader``). Defaults are ``ServerConfiguration``'s, shown in `--help` through
/// ``Setting/all``; each flag has its key there (a test checks it).
struct ServeOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "A configuration file (YAML, or JSON if it ends in .json): every flag is also a key (max-clients: 500). Default: $SWITCHBOARD_CONFIG, else none.",
        valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp(
        "Where to listen; repeatable. tcp:PORT[:interface=ADDR], unix:PATH[:mode=OCTAL], ssl:PORT:privateKey=KEY.pem:certKey=CERT.pem, systemd:domain=INET:index=N; haproxy: before any of them reads a PROXY header first. \(ServeOptions.defaultNote("listen"))",
        valueName: "endpoint"))
    var listen: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "An admin console: unix:PATH[:mode=OCTAL] (mode 600 unless given) where every peer is an operator, for scripts; repeatable. \(ServeOptions.defaultNote("admin"))",
        valueName: "endpoint"))
    var admin: [String] = []

    @Option(name: .long, parsing: .unconditional, help: "Longest accepted input line, in bytes (terminator not counted). \(ServeOptions.defaultNote("max-line"))")
    var maxLine: Int?

    @Option(name: .long, parsing: .unconditional, help: "Most clients at once; more get '! server full'. \(ServeOptions.defaultNote("max-clients"))")
    var maxClients: Int?

    @Option(name: .long, parsing: .unconditional, help: "Most clients per IP address; 0 = unlimited. \(ServeOptions.defaultNote("max-per-ip"))")
    var maxPerIp: Int?

    @Option(name: .long, parsing: .unconditional, help: "Bytes queued for a client that does not read before it is disconnected. \(ServeOptions.defaultNote("max-sendq"))")
    var maxSendq: Int?

    @Option(name: .long, parsing: .unconditional, help: "Lines per second a client may send on average; 0 = no flood control. \(ServeOptions.defaultNote("flood-rate"))")
    var floodRate: Double?

    @Option(name: .long, parsing: .unconditional, help: "Lines a client may send in one burst. \(ServeOptions.defaultNote("flood-burst"))")
    var floodBurst: Double?

    @Option(name: .long, parsing: .unconditional, help: "Seconds of silence before a client is disconnected; 0 = never. \(ServeOptions.defaultNote("idle-timeout"))")
    var idleTimeout: Double?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Join/leave notices a second named one by one; above it, one '* J joined, L left' line a second. 0 = always name. \(ServeOptions.defaultNote("notice-rate"))",
        valueName: "notices"))
    var noticeRate: Int?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Public lines replayed to a newcomer after the welcome (0 to 200; 0 = none). \(ServeOptions.defaultNote("history-on-join"))",
        valueName: "lines"))
    var historyOnJoin: Int?

    @Option(name: .long, parsing: .unconditional, help: "Seconds a client may hold a registered nickname without /identify before it is renamed to its guest name. \(ServeOptions.defaultNote("identify-grace"))")
    var identifyGrace: Double?

    @Flag(name: .long, help: "Allow /oper (a password) over plain TCP from non-loopback addresses; without it only TLS, Unix sockets and loopback. \(ServeOptions.defaultNote("allow-plain-oper"))")
    var allowPlainOper = false

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Visitor numbers reserved from the database at a time, so a welcome needs no round trip; 0 = each welcome waits for its row. \(ServeOptions.defaultNote("visitor-number-block"))",
        valueName: "numbers"))
    var visitorNumberBlock: Int?

    @Option(name: .long, parsing: .unconditional, help: "Database worker threads (one connection each). \(ServeOptions.defaultNote("db-threads"))")
    var dbThreads: Int?

    @Option(name: .long, parsing: .unconditional, help: "Seconds to keep retrying an unreachable database at start-up. \(ServeOptions.defaultNote("db-connect-timeout"))")
    var dbConnectTimeout: Double?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Seconds after its last heartbeat that another server on the database counts as dead (its open rows are closed at start; on SQLite, a live one refuses the start). \(ServeOptions.defaultNote("server-timeout"))",
        valueName: "seconds"))
    var serverTimeout: Double?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "History events kept in memory while the database is slow or down; past half of it, clients who say lines are held back (the database is up) or, when it is full, events go to the spool (it is down). \(ServeOptions.defaultNote("history-queue"))",
        valueName: "events"))
    var historyQueue: Int?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Bytes of history events kept in memory (the queue's other bound). \(ServeOptions.defaultNote("history-queue-bytes"))", valueName: "bytes"))
    var historyQueueBytes: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Directory for the history spool (events that do not fit in memory during an outage, and what a stop could not write; replayed at the next start). Default: the SQLite file's directory, else the working directory.",
        valueName: "path"))
    var spoolDir: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Most bytes the history spool may hold; past it events are dropped (counted, clients told). 0 = no spool. \(ServeOptions.defaultNote("spool-max"))",
        valueName: "bytes"))
    var spoolMax: Int64?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Several servers on one PostgreSQL database: messages from the other servers held while this one is busy; past it they are dropped (clients are told) and the rosters re-synced. \(ServeOptions.defaultNote("cluster-inbox"))",
        valueName: "messages"))
    var clusterInbox: Int?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Several servers on one PostgreSQL database: bytes of the other servers' messages held while this one is busy; past it, as --cluster-inbox. \(ServeOptions.defaultNote("cluster-inbox-bytes"))",
        valueName: "bytes"))
    var clusterInboxBytes: Int?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Several servers on one PostgreSQL database: bytes a second this server sends the others, at most; clients producing more are not read until it catches up. \(ServeOptions.defaultNote("cluster-send-rate"))",
        valueName: "bytes"))
    var clusterSendRate: Int?

    @Option(name: .long, parsing: .unconditional, help: "Seconds a graceful stop may take. \(ServeOptions.defaultNote("shutdown-timeout"))")
    var shutdownTimeout: Double?

    @Option(name: .long, parsing: .unconditional, help: "Seconds a TLS handshake may take on an ssl: endpoint before the client is dropped. \(ServeOptions.defaultNote("tls-handshake-timeout"))")
    var tlsHandshakeTimeout: Double?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Seconds between checks of the ssl: endpoints' certificate files for a renewal; 0 = only on SIGHUP. \(ServeOptions.defaultNote("tls-reload-interval"))",
        valueName: "seconds"))
    var tlsReloadInterval: Double?

    @Option(name: .long, help: ArgumentHelp(
        "An address range (CIDR) whose connections to haproxy: endpoints may send a PROXY header; repeatable. \(ServeOptions.defaultNote("trusted-proxy"))",
        valueName: "cidr"))
    var trustedProxy: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "Serve the chat page, /chat (WebSocket), /stats and /api/stats here; repeatable. tcp:PORT[:interface=ADDR], unix:PATH, ssl:PORT:privateKey=KEY.pem:certKey=CERT.pem. Off by default.",
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

    /// "(default: 1024)", from the configuration types' defaults.
    static func defaultNote(_ key: String) -> String {
        guard let setting = Setting.named(key) else { return "" }
        let shown = setting.show(ServeSettings()) ?? "none"
        return "(default: \(shown == "[]" ? "none" : shown.trimmingCharacters(in: CharacterSet(charactersIn: "\"[]"))))"
    }

    /// The flags given, as the keys they set (``Setting/key``) and their values.
    func flagValues(common: CommonOptions) -> [String: ConfigContent] {
        var values: [String: ConfigContent] = [:]
        func set(_ key: String, _ value: ConfigContent?) {
            precondition(Setting.named(key) != nil, "--\(key) has no setting")
            if let value { values[key] = value }
        }
        set("listen", listen.isEmpty ? nil : .stringArray(listen))
        set("admin", admin.isEmpty ? nil : .stringArray(admin))
        set("database", common.database.map { .string($0) })
        set("log-level", common.logLevel.map { .string($0.rawValue) })
        set("log-format", common.logFormat.map { .string($0.rawValue) })
        set("max-line", maxLine.map { .int($0) })
        set("max-clients", maxClients.map { .int($0) })
        set("max-per-ip", maxPerIp.map { .int($0) })
        set("max-sendq", maxSendq.map { .int($0) })
        set("flood-rate", floodRate.map { .double($0) })
        set("flood-burst", floodBurst.map { .double($0) })
        set("idle-timeout", idleTimeout.map { .double($0) })
        set("notice-rate", noticeRate.map { .int($0) })
        set("allow-plain-oper", allowPlainOper ? .bool(true) : nil)
        set("history-on-join", historyOnJoin.map { .int($0) })
        set("identify-grace", identifyGrace.map { .double($0) })
        set("visitor-number-block", visitorNumberBlock.map { .int($0) })
        set("db-threads", dbThreads.map { .int($0) })
        set("db-connect-timeout", dbConnectTimeout.map { .double($0) })
        set("server-timeout", serverTimeout.map { .double($0) })
        set("history-queue", historyQueue.map { .int($0) })
        set("history-queue-bytes", historyQueueBytes.map { .int($0) })
        set("spool-dir", spoolDir.map { .string($0) })
        set("spool-max", spoolMax.map { .int(Int($0)) })
        set("cluster-inbox", clusterInbox.map { .int($0) })
        set("cluster-inbox-bytes", clusterInboxBytes.map { .int($0) })
        set("cluster-send-rate", clusterSendRate.map { .int($0) })
        set("shutdown-timeout", shutdownTimeout.map { .double($0) })
        set("tls-handshake-timeout", tlsHandshakeTimeout.map { .double($0) })
        set("tls-reload-interval", tlsReloadInterval.map { .double($0) })
        set("trusted-proxy", trustedProxy.isEmpty ? nil : .stringArray(trustedProxy))
        set("web", web.isEmpty ? nil : .stringArray(web))
        set("web-origin", webOrigin.isEmpty ? nil : .stringArray(webOrigin))
        set("metrics", metrics.isEmpty ? nil : .stringArray(metrics))
        return values
    }
}
