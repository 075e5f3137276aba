import SwitchboardCluster
import SwitchboardDatabase

/// Everything a running ``ChatServer`` counts, read at one moment for the metrics: the chat's own
/// counters, the history writer's queue, the database pool, and the cluster link on PostgreSQL.
public struct ChatServerSnapshot: Sendable {
    /// Clients, lines, bytes, refusals and closes (see ``ChatCounters``).
    public var chat: ChatCounters
    /// History events waiting to be written now.
    public var historyQueued: Int
    /// History events committed since start.
    public var historyWritten: Int
    /// History events dropped since start (past the queue and the spool).
    public var historyDropped: Int
    /// The pool's waiting work and its failures by kind.
    public var pool: DatabasePoolStatistics
    /// The NOTIFY transport's counts (`nil` on SQLite: no cluster).
    public var cluster: NotifyTransport.Statistics?
    /// Servers of the chat alive as this one sees them, itself included (1 on SQLite or out of contact).
    public var serversAlive: Int

    public init(
        chat: ChatCounters, historyQueued: Int, historyWritten: Int, historyDropped: Int, pool: DatabasePoolStatistics,
        cluster: NotifyTransport.Statistics?, serversAlive: Int
    ) {
        self.chat = chat
        self.historyQueued = historyQueued
        self.historyWritten = historyWritten
        self.historyDropped = historyDropped
        self.pool = pool
        self.cluster = cluster
        self.serversAlive = serversAlive
    }
}
