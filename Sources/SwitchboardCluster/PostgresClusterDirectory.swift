import NIOCore
import SwitchboardDatabase
import SwitchboardHistory

/// The directory in PostgreSQL: ``ClusterRepository``'s statements, run on the pool.
package final class PostgresClusterDirectory: ClusterDirectory {
    private let pool: DatabasePool
    private let eventLoop: any EventLoop
    private let repository: ClusterRepository
    private let serverTimeout: TimeAmount

    /// A directory for server `serverID`, running its statements on `pool` and completing on `eventLoop`.
    package init(serverID: Int64, pool: DatabasePool, eventLoop: any EventLoop, serverTimeout: TimeAmount) {
        self.pool = pool
        self.eventLoop = eventLoop
        self.repository = ClusterRepository(serverID: serverID)
        self.serverTimeout = serverTimeout
    }

    package func claim(_ claim: ClusterRepository.Claim) -> EventLoopFuture<Bool> {
        let (repository, timeout) = (self.repository, serverTimeout)
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.claim(claim, serverTimeout: timeout, on: connection)
        }
    }

    package func release(connection key: UInt64) {
        let repository = self.repository
        // A failure leaves a claim no member holds; the next reconcile drops it.
        _ = pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.release(connection: key, on: connection)
        }
    }

    package func reconcile(_ claims: [ClusterRepository.Claim]) -> EventLoopFuture<[UInt64]> {
        let (repository, timeout) = (self.repository, serverTimeout)
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.reconcile(claims, serverTimeout: timeout, on: connection)
        }
    }

    package func serverStatuses(known: [Int64]) -> EventLoopFuture<[ClusterRepository.ServerStatus]> {
        let (repository, timeout) = (self.repository, serverTimeout)
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.serverStatuses(known: known, serverTimeout: timeout, on: connection)
        }
    }

    package func closeLostServer(
        _ id: Int64, names: [(visitor: Int64, nickname: String)]
    ) -> EventLoopFuture<ClusterRepository.LostServer> {
        let (repository, timeout) = (self.repository, serverTimeout)
        let names = names.map { ClusterRepository.RowName(row: $0.visitor, nickname: $0.nickname) }
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.closeLostServer(id, names: names, serverTimeout: timeout, at: Timestamp.now(), on: connection)
        }
    }

    package func liveServerIDs() -> EventLoopFuture<[Int64]> {
        let (repository, timeout) = (self.repository, serverTimeout)
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.liveServerIDs(serverTimeout: timeout, on: connection)
        }
    }
}
