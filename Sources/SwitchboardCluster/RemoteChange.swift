import SwitchboardHistory

/// Everything the cluster tells the chat it serves, through its one entry point (``ClusterHost/apply(_:)``):
/// what happened on the other servers, and what became of this server's contact with them. The chat decides
/// what its clients see of each (the notices' wording, batching, the counts).
package enum RemoteChange: Equatable, Sendable {
    /// A member of another server joined (or this server learns of it for the first time).
    case joined(RemoteMember)
    /// A member of another server left; its clients are shown `shownAs` as the reason.
    case left(RemoteMember.ID, shownAs: String)
    /// A member of another server took a new name (its `visitor` is 0: a rename does not say it again).
    case renamed(RemoteMember)
    /// A member of another server said a public line (chat or `/me`).
    case said(RemoteMember.ID, MessageKind, String)
    /// A member of another server sent a private message to local member `to`.
    case privateMessage(from: RemoteMember.ID, to: ConnectionKey, String)
    /// The whole roster of `server` (its snapshot): it replaces what was held of it, quietly — unless
    /// `announcingNewcomers` (a server taken for lost is back), when members not held before are shown joining.
    case roster(server: Int64, members: [RemoteMember], announcingNewcomers: Bool)
    /// Every member of `server` leaves (it stopped, or was lost), each shown `shownAs`.
    case serverLeft(Int64, shownAs: String)
    /// Local member `member` lost `nickname` to an earlier claim on another server (found when this server's
    /// claims were made again after contact came back): it takes its guest name, if it still has that name.
    case nameLost(ConnectionKey, nickname: String)
    /// Contact with the other servers was lost (said once per outage, and only when there were others).
    case contactLost
    /// Contact is back after ``contactLost`` and the rosters are exchanged.
    case contactRestored
    /// This server fell behind the others and dropped some of what they said (at most every ten seconds).
    case fellBehind
    /// What this server sends the others is backlogged (`true`): the chat holds back the clients who keep
    /// talking; `false` once it has drained, or contact is lost.
    case sendingBacklogged(Bool)
}
