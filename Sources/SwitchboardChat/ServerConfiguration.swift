import NIOCore
import SwitchboardProtocol
import SwitchboardStorage

/// Everything `switchboard serve` is told: where to listen, where history goes, the chat limits.
public struct ServerConfiguration: Sendable {
    /// Where to accept connections (`--listen`, repeatable).
    public var endpoints: [Endpoint] = [.tcp(host: "0.0.0.0", port: 8000, backlog: Endpoint.defaultBacklog)]
    /// Where history goes (`--database`).
    public var database: DatabaseURL = .defaultURL
    /// Database worker threads, one connection each (`--db-threads`).
    public var databaseThreads = 2
    /// How long start-up waits for an unreachable database (`--db-connect-timeout`).
    public var databaseConnectTimeout: TimeAmount = .seconds(30)
    /// History events held in memory while the database is slow or down (`--history-queue`).
    public var historyQueueLimit = 100_000
    /// The longest a graceful stop may take (`--shutdown-timeout`).
    public var shutdownTimeout: TimeAmount = .seconds(10)
    /// How long accepting pauses after accept(2) fails (out of file descriptors, say).
    public var acceptBackoff: TimeAmount = .seconds(1)
    /// Limits and timings enforced per client.
    public var chat = ChatConfiguration()

    public init() {}
}
