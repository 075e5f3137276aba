import SwitchboardHistory

/// What the cluster needs of the chat it joins to the other servers, and all it may touch: one entry point
/// for what happened elsewhere (``apply(_:)``), and a read-only view of what is here (``ClusterView``). The
/// chat's hub conforms (`ChatHub+Cluster.swift`); the cluster never calls anything else of it, and
/// `SwitchboardCluster` does not know the chat module.
///
/// Called on the hub's event loop only.
package protocol ClusterHost: ClusterView {
    /// Applies one change from the other servers (or in this server's contact with them).
    func apply(_ change: RemoteChange)
}

/// What the cluster may read of the chat it serves: the local members (for this server's roster snapshot and
/// its name claims) and the remote members held (for the rows of a server found lost). Read-only; read on the
/// hub's event loop, and only when the cluster needs it (a snapshot, a reconcile, a status check), never per
/// line.
package protocol ClusterView: AnyObject {
    /// The local members that have joined (have a name), in no particular order.
    var localMembers: [LocalMember] { get }
    /// Whether any local member has joined (someone would see a notice).
    var hasLocalMembers: Bool { get }
    /// The servers whose members are held here.
    var remoteServers: Set<Int64> { get }
    /// The members of `server` held here.
    func remoteMembers(of server: Int64) -> [RemoteMember]
}

/// A local member as the other servers need to know it.
package struct LocalMember: Equatable, Sendable {
    package let id: ConnectionKey
    package let nickname: String
    /// Its history row (its visitor number), when known.
    package let visitor: Int64?
    /// When it took its name (µs since 1970).
    package let claimedAt: Int64
    /// Its name is its guest name, which is never claimed in the database (visitor numbers are unique across
    /// servers).
    package let isGuestName: Bool

    package init(id: ConnectionKey, nickname: String, visitor: Int64?, claimedAt: Int64, isGuestName: Bool) {
        self.id = id
        self.nickname = nickname
        self.visitor = visitor
        self.claimedAt = claimedAt
        self.isGuestName = isGuestName
    }

    /// The snapshot line other servers rebuild their view from.
    var joinedEvent: ClusterEvent {
        .joined(member: id.rawValue, visitor: visitor ?? 0, claimedAt: claimedAt, nickname: nickname)
    }
}
