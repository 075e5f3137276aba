import NIOCore
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardCluster

/// What cluster mode asks the database: who may hold a name, which servers stopped or are lost. (The visit
/// total comes with the heartbeat: ``ServerHeartbeat``.) ``PostgresClusterDirectory`` is the real one (``ClusterRepository`` on the pool); unit tests
/// use an in-memory one.
///
/// Every method is called on the hub's event loop, and every future completes there.
protocol ClusterDirectory: AnyObject {
    /// Takes a name for a local member unless another live server's member holds it; whether it did.
    func claim(_ claim: ClusterRepository.Claim) -> EventLoopFuture<Bool>
    /// Drops every name local member `connection` holds.
    func release(connection: UInt64)
    /// Drops this server's claims and takes `claims` again, taking names from later claims; the members
    /// that lost theirs to an earlier claim elsewhere.
    func reconcile(_ claims: [ClusterRepository.Claim]) -> EventLoopFuture<[UInt64]>
    /// Servers that are late, and the state of `known` ones.
    func serverStatuses(known: [Int64]) -> EventLoopFuture<[ClusterRepository.ServerStatus]>
    /// If the server's heartbeat is still late (by the database's clock, now): marks it gone, closes its rows
    /// (`server lost`, named as its members were last known) and drops its claims.
    func closeLostServer(
        _ id: Int64, names: [(visitor: Int64, nickname: String)]
    ) -> EventLoopFuture<ClusterRepository.LostServer>
    /// The other live servers.
    func liveServerIDs() -> EventLoopFuture<[Int64]>
}

/// The directory in PostgreSQL: ``ClusterRepository``'s statements, run on the pool.
final class PostgresClusterDirectory: ClusterDirectory {
    private let pool: DatabasePool
    private let eventLoop: any EventLoop
    private let repository: ClusterRepository
    private let serverTimeout: TimeAmount

    init(serverID: Int64, pool: DatabasePool, eventLoop: any EventLoop, serverTimeout: TimeAmount) {
        self.pool = pool
        self.eventLoop = eventLoop
        self.repository = ClusterRepository(serverID: serverID)
        self.serverTimeout = serverTimeout
    }

    func claim(_ claim: ClusterRepository.Claim) -> EventLoopFuture<Bool> {
        let (repository, timeout) = (self.repository, serverTimeout)
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.claim(claim, serverTimeout: timeout, on: connection)
        }
    }

    func release(connection key: UInt64) {
        let repository = self.repository
        // A failure leaves a claim no member holds; the next reconcile drops it.
        _ = pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.release(connection: key, on: connection)
        }
    }

    func reconcile(_ claims: [ClusterRepository.Claim]) -> EventLoopFuture<[UInt64]> {
        let (repository, timeout) = (self.repository, serverTimeout)
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.reconcile(claims, serverTimeout: timeout, on: connection)
        }
    }

    func serverStatuses(known: [Int64]) -> EventLoopFuture<[ClusterRepository.ServerStatus]> {
        let (repository, timeout) = (self.repository, serverTimeout)
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.serverStatuses(known: known, serverTimeout: timeout, on: connection)
        }
    }

    func closeLostServer(
        _ id: Int64, names: [(visitor: Int64, nickname: String)]
    ) -> EventLoopFuture<ClusterRepository.LostServer> {
        let (repository, timeout) = (self.repository, serverTimeout)
        let names = names.map { ClusterRepository.RowName(row: $0.visitor, nickname: $0.nickname) }
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.closeLostServer(id, names: names, serverTimeout: timeout, at: Timestamp.now(), on: connection)
        }
    }

    func liveServerIDs() -> EventLoopFuture<[Int64]> {
        let (repository, timeout) = (self.repository, serverTimeout)
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.liveServerIDs(serverTimeout: timeout, on: connection)
        }
    }

}
