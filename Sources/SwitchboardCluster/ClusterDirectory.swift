import NIOCore
import SwitchboardDatabase
import SwitchboardHistory

/// What cluster mode asks the database: who may hold a name, which servers stopped or are lost. (The visit
/// total comes with the heartbeat: ``ServerHeartbeat``.) ``PostgresClusterDirectory`` is the real one
/// (``ClusterRepository`` on the pool); unit tests use in-memory ones.
///
/// Every method is called on the hub's event loop, and every future completes there.
package protocol ClusterDirectory: AnyObject {
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
