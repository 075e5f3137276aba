import NIOCore
import SwitchboardHistory
import SwitchboardModeration

/// What the hub knows about moderation: the snapshot of what is enforced (bans, mutes, the MOTD, registered
/// names) and what it keeps about its own clients (who is an operator, who is muted, password throttles).
///
/// Ownership: a value inside ``ChatHub``, on the hub's event loop.
struct ModerationState {
    /// Wrong passwords per connection: 3 a minute.
    static let perConnectionFailures = (limit: 3, window: TimeAmount.minutes(1))
    /// Wrong passwords per address: 10 in 10 minutes.
    static let perAddressFailures = (limit: 10, window: TimeAmount.minutes(10))

    /// Bans, mutes, the MOTD and registrations as last read from the database (updated at once by this
    /// server's own changes, and re-read whenever `moderation_version` changes).
    var snapshot = ModerationSnapshot()
    /// Local connections with operator rights, and the name they act under (`/oper NAME`; `admin` on the
    /// admin console; `/op`'s grantee by its nickname).
    var operators: [ConnectionKey: String] = [:]
    /// Connections muted while connected (kept even if they rename).
    var mutedConnections: Set<ConnectionKey> = []
    /// Muted connections already told so.
    var toldMuted: Set<ConnectionKey> = []
    /// The registered nickname (its key) each connection identified for: it owns that name while connected.
    var identified: [ConnectionKey: String] = [:]
    /// Clients holding a registered nickname they have not identified for, and the rename-back timer.
    var graceTimers: [ConnectionKey: Scheduled<Void>] = [:]
    /// Connections told they are kicked or banned, closing once their owed replies are out: told once.
    var expelled: Set<ConnectionKey> = []
    var perConnection = FailureThrottle<ConnectionKey>(
        limit: perConnectionFailures.limit, window: perConnectionFailures.window)
    var perAddress = FailureThrottle<String>(limit: perAddressFailures.limit, window: perAddressFailures.window)
    var pollTimer: Scheduled<Void>?
    /// A poll or reload is in flight (polls do not overlap).
    var polling = false
    /// Rows skipped in the last snapshot, so the warning is logged once per change, not per poll.
    var reportedSkippedRows = 0

    /// Forgets what was kept about a connection that left.
    mutating func forget(_ id: ConnectionKey) {
        operators[id] = nil
        mutedConnections.remove(id)
        toldMuted.remove(id)
        expelled.remove(id)
        identified[id] = nil
        graceTimers.removeValue(forKey: id)?.cancel()
        perConnection.forget(id)
    }
}
