import NIOCore
import SwitchboardCluster
import SwitchboardDatabase

/// The server's part in a cluster (several servers on one PostgreSQL database acting as one chat).
extension ChatServer {
    /// On PostgreSQL every server on the database is one chat: starts the LISTEN/NOTIFY link and waits
    /// (bounded) until this server has the others' rosters, so its first welcomes count everyone.
    func joinCluster(
        _ parameters: PostgresConnectionParameters, serverID: Int64, hub: NIOLoopBound<ChatHub>
    ) async throws {
        let link = NotifyTransport(
            parameters: parameters, serverID: serverID, maximumInbox: configuration.clusterInboxLimit,
            maximumInboxBytes: configuration.clusterInboxBytes, sendRate: configuration.clusterSendRate, logger: logger)
        state.withLockedValue { $0.clusterLink = link }  // the metrics read its counts
        let pool = self.pool
        let timeout = configuration.serverTimeout
        let loop = self.loop
        let ready = try await loop.submit {
            let directory = PostgresClusterDirectory(serverID: serverID, pool: pool, eventLoop: loop, serverTimeout: timeout)
            return hub.value.startCluster(serverID: serverID, transport: link, directory: directory, serverTimeout: timeout)
        }.get()
        do {
            try await ready.withDeadline(NIODeadline.now() + ClusterNode.syncWait + .seconds(2), on: loop).get()
        } catch {
            logger.warning("not in contact with the other servers yet; serving this server's clients meanwhile")
        }
    }
}
