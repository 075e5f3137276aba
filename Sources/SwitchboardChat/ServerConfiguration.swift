import Foundation
import NIOCore
import SwitchboardProtocol
import SwitchboardDatabase
import SwitchboardCluster

/// Everything `switchboard serve` is told: where to listen, where history goes, the chat limits.
///
/// Every default is written here once: the CLI's options start from these values (and `--help` shows
/// them). ``validate()`` is the one check of the values, used by the CLI and by ``ChatServer``, so a library
/// caller gets the same clear error instead of a trap deep inside.
public struct ServerConfiguration: Sendable {
    /// Where to accept connections (`--listen`, repeatable).
    public var endpoints: [Endpoint] = [.tcp(host: "0.0.0.0", port: 8000, backlog: Endpoint.defaultBacklog)]
    /// The admin console (`--admin unix:PATH`, repeatable): Unix sockets on which every peer is an operator
    /// (acting as `admin`), for scripts and cron. Mode 0600 unless the endpoint names one. None by default.
    public var adminEndpoints: [Endpoint] = []
    /// Where history goes (`--database`).
    public var database: DatabaseURL = .defaultURL
    /// Database worker threads, one connection each (`--db-threads`).
    public var databaseThreads = 2
    /// How long start-up waits for an unreachable database (`--db-connect-timeout`).
    public var databaseConnectTimeout: TimeAmount = .seconds(30)
    /// History events held in memory while the database is slow or down (`--history-queue`). Past half of
    /// it (or of ``historyQueueBytes``) while the database is up, clients who say lines are held back.
    public var historyQueueLimit = 100_000
    /// Bytes of history events held in memory (`--history-queue-bytes`), the other bound of the queue.
    public var historyQueueBytes = 64 << 20
    /// Where the spool files go (`--spool-dir`): what does not fit the queue during an outage, and what a
    /// stop could not write. `nil`: next to a SQLite database file, else the working directory.
    public var spoolDirectory: String?
    /// The most bytes the spool may hold (`--spool-max`); past it, events are dropped (and counted, and the
    /// clients told). 0: no spool — what does not fit the queue is dropped.
    public var spoolMaximumBytes: Int64 = 1 << 30
    /// The longest a graceful stop may take (`--shutdown-timeout`).
    public var shutdownTimeout: TimeAmount = .seconds(10)
    /// How old another server's heartbeat must be before it counts as dead (`--server-timeout`): start-up
    /// repair closes only rows of servers that stopped or whose heartbeat is older; on SQLite a server with
    /// a fresher heartbeat makes start-up refuse. A running server refreshes its own well within this.
    public var serverTimeout: TimeAmount = .seconds(15)
    /// Cluster mode (PostgreSQL): NOTIFY payloads from the other servers held while this server's loop is
    /// busy (`--cluster-inbox`); past it they are dropped, the clients told, and the rosters re-synced.
    public var clusterInboxLimit = 10_000
    /// Cluster mode: the bytes of those payloads that may wait (`--cluster-inbox-bytes`); past it, the same.
    public var clusterInboxBytes = NotifyTransport.defaultMaximumInboxBytes
    /// Cluster mode: payload bytes a second this server sends the others, at most (`--cluster-send-rate`);
    /// one second's worth may wait, and past a quarter of that the clients producing lines are held back
    /// (not read) until it drains.
    public var clusterSendRate = NotifyTransport.defaultSendRate
    /// How long accepting pauses after accept(2) fails (out of file descriptors, say).
    public var acceptBackoff: TimeAmount = .seconds(1)
    /// The longest a TLS handshake may take on an `ssl:` endpoint (`--tls-handshake-timeout`); a client that
    /// has not finished by then is dropped. Handshakes in progress count against the client limits.
    public var tlsHandshakeTimeout: TimeAmount = .seconds(10)
    /// How often the certificate files of `ssl:` endpoints are read again to pick up a renewal
    /// (`--tls-reload-interval`); zero: only on SIGHUP.
    public var tlsReloadInterval: TimeAmount = .seconds(60)
    /// Where `haproxy:` endpoints accept PROXY headers from (`--trusted-proxy`, repeatable); a connection
    /// from anywhere else is closed at once. Empty: no one (Unix socket peers are always trusted).
    public var trustedProxies: [IPAddressRange] = []
    /// Limits and timings enforced per client.
    public var chat = ChatConfiguration()

    public init() {}

    /// The spool directory in effect: ``spoolDirectory``, else the SQLite file's directory, else `.`.
    public var effectiveSpoolDirectory: String {
        if let spoolDirectory { return spoolDirectory }
        if case .sqlite(let path) = database {
            let directory = (path as NSString).deletingLastPathComponent
            return directory.isEmpty ? "." : directory
        }
        return "."
    }

    /// Checks every value; the error names the CLI option and its range.
    public func validate() throws(ConfigurationError) {
        try chat.validate()
        guard !endpoints.isEmpty else { throw ConfigurationError("at least one --listen endpoint is needed") }
        for endpoint in adminEndpoints {
            guard case .unix = endpoint else {
                throw ConfigurationError("--admin must be a unix:PATH endpoint (every peer there is an operator), not \(endpoint)")
            }
        }
        guard (1...64).contains(databaseThreads) else { throw ConfigurationError("--db-threads must be from 1 to 64") }
        guard databaseConnectTimeout >= .zero else { throw ConfigurationError("--db-connect-timeout must be 0 or more") }
        guard shutdownTimeout > .zero else { throw ConfigurationError("--shutdown-timeout must be more than 0") }
        guard serverTimeout > .zero, serverTimeout <= .hours(24) else {
            throw ConfigurationError("--server-timeout must be more than 0 and at most 86400 seconds")
        }
        guard historyQueueLimit > 0 else { throw ConfigurationError("--history-queue must be 1 or more") }
        guard historyQueueBytes >= 1 << 20 else { throw ConfigurationError("--history-queue-bytes must be at least 1048576 (1 MiB)") }
        guard spoolMaximumBytes >= 0 else { throw ConfigurationError("--spool-max must be 0 (no spool) or more") }
        if let spoolDirectory, spoolDirectory.isEmpty { throw ConfigurationError("--spool-dir must not be empty") }
        guard clusterInboxLimit > 0 else { throw ConfigurationError("--cluster-inbox must be 1 or more") }
        guard clusterInboxBytes >= NotifyTransport.inlinePayloadLimit else {
            throw ConfigurationError("--cluster-inbox-bytes must be at least \(NotifyTransport.inlinePayloadLimit) (one payload)")
        }
        guard clusterSendRate >= NotifyTransport.minimumSendRate else {
            throw ConfigurationError("--cluster-send-rate must be at least \(NotifyTransport.minimumSendRate) bytes a second (one payload)")
        }
        guard acceptBackoff > .zero else { throw ConfigurationError("the accept back-off must be more than 0") }
        guard tlsHandshakeTimeout > .zero, tlsHandshakeTimeout <= .seconds(300) else {
            throw ConfigurationError("--tls-handshake-timeout must be more than 0 and at most 300 seconds")
        }
        guard tlsReloadInterval >= .zero else { throw ConfigurationError("--tls-reload-interval must be 0 (only on SIGHUP) or more") }
    }
}

extension ChatConfiguration {
    /// Checks the per-client limits; the error names the CLI option and its range.
    public func validate() throws(ConfigurationError) {
        guard (16...65_536).contains(maximumLineLength) else { throw ConfigurationError("--max-line must be from 16 to 65536") }
        guard maximumClients > 0 else { throw ConfigurationError("--max-clients must be 1 or more") }
        guard maximumClientsPerAddress >= 0 else { throw ConfigurationError("--max-per-ip must be 0 (unlimited) or more") }
        guard maximumSendQueueBytes >= 1024 else { throw ConfigurationError("--max-sendq must be at least 1024 bytes") }
        guard floodRate >= 0, floodRate.isFinite else { throw ConfigurationError("--flood-rate must be 0 (no flood control) or more") }
        guard floodBurst >= 1, floodBurst.isFinite else { throw ConfigurationError("--flood-burst must be 1 or more") }
        guard idleTimeout >= .zero else { throw ConfigurationError("--idle-timeout must be 0 (never) or more") }
        guard noticeRate >= 0 else { throw ConfigurationError("--notice-rate must be 0 (always name) or more") }
        guard visitorNumberWait > .zero, historyReadWait > .zero else { throw ConfigurationError("waits must be more than 0") }
        guard fanOutBytesPerTick > 0 else { throw ConfigurationError("the fan-out budget must be more than 0") }
        guard (0...100_000).contains(visitorNumberBlock) else {
            throw ConfigurationError("--visitor-number-block must be from 0 to 100000")
        }
        guard maximumWhoNames > 0 else { throw ConfigurationError("/who must list at least one name") }
        guard (0...CommandArgument.maximumHistoryCount).contains(historyOnJoin) else {
            throw ConfigurationError("--history-on-join must be from 0 (off) to \(CommandArgument.maximumHistoryCount)")
        }
        guard identifyGrace >= .seconds(1), identifyGrace <= .hours(24) else {
            throw ConfigurationError("--identify-grace must be from 1 second to 86400 (a day)")
        }
    }
}

/// A configuration value out of range: one line for the user.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
