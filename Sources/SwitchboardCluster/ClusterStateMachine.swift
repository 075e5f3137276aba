import NIOCore
import SwitchboardHistory

/// The decisions of cluster mode, as a value: inputs in (contact began or was lost, a payload received, a
/// drop, the servers listed, a timer fired, what the database answered), actions out (apply a remote change,
/// send payloads, ask the database, start a timer, report). No I/O, no event loop: the time comes in with the
/// inputs that need it, and ``ClusterNode`` carries the actions out — the ``HistoryWriteStateMachine`` +
/// ``HistoryWriter`` pattern.
///
/// ```
/// contact    out ──contactBegan──▶ syncing: W 0 + own snapshot; reconcileClaims; listLiveServers;
///                                  startSyncTimer(3 s)
///            syncing ──every live server's snapshot, or the sync timer──▶ in contact: ready
///                                  (after an announced loss: apply(.contactRestored))
///            in ──contactLost──▶ out (apply(.contactLost) once, if there were other servers)
/// receive    own echo (told by its prefix) → nothing; a gap in a server's sequence → W SERVER;
///            a snapshot's parts in order → apply(.roster); events → apply(.joined / .left / …)
/// fall behind  dropped(n) → forget sequences, W 0 (at most one a second: requestSnapshotsAt), and
///            apply(.fellBehind) at most every 10 s
/// servers    status timer (in contact) → checkServers; stopped → apply(.serverLeft(shutdown));
///            late (after --server-timeout in contact) → closeLostServer → apply(.serverLeft(lost));
///            departed and live again → W SERVER, its members shown joining (.roster announcing newcomers)
/// send       publish(event) queues for the tick; flush() packs the tick into payloads (and the snapshot
///            when one was asked for); sendBacklog(true/false) → apply(.sendingBacklogged)
/// names      claimStarted / claimFinished / release: which local members' names are claimed in the
///            database; claimsReconciled → apply(.nameLost) for those that lost theirs
/// ```
///
/// Servers departed (stopped or lost) are not heard until the database says they are live again: a server
/// taken for lost may not know it and go on talking.
///
/// Ownership: a plain value, owned by whoever holds it (the node keeps it on its hub's event loop).
package struct ClusterStateMachine {
    /// The limits and timings the machine works with.
    package struct Configuration: Sendable, Equatable {
        /// This server's id.
        package var serverID: Int64
        /// `--server-timeout`: how long a server's heartbeat may be late before it is lost; and how long after
        /// contact began before any server is judged (their heartbeats could not be written meanwhile either).
        package var serverTimeout: TimeAmount
        /// How long to wait for the live servers' snapshots after contact begins.
        package var syncWait = TimeAmount.seconds(3)
        /// Roster requests after a drop go out at most this often.
        package var snapshotRequestInterval = TimeAmount.seconds(1)
        /// The clients are told of a drop at most this often.
        package var fellBehindNoticeInterval = TimeAmount.seconds(10)
        /// The size payloads are packed to (``ClusterMessage/inlinePayloadBytes``).
        package var payloadLimit = ClusterMessage.inlinePayloadBytes

        package init(serverID: Int64, serverTimeout: TimeAmount) {
            self.serverID = serverID
            self.serverTimeout = serverTimeout
        }
    }

    package enum Action: Equatable, Sendable {
        /// Hand this to the host (``ClusterHost/apply(_:)``).
        case apply(RemoteChange)
        /// Claim again the names the local members hold (``ClusterView/localMembers`` that are not guest
        /// names); report with ``claimsReconciled(_:lost:)`` or ``claimsReconcileFailed()``.
        case reconcileClaims
        /// List the live servers; report with ``liveServersListed(_:contact:)``.
        case listLiveServers(contact: UInt64)
        /// Call ``syncTimerFired()`` after this long (replacing the timer running, if any).
        case startSyncTimer(TimeAmount)
        /// Cancel the sync timer.
        case cancelSyncTimer
        /// Ask the database about these servers (and any late one); report with ``serversChecked(_:)`` or
        /// ``serverCheckFailed()``.
        case checkServers(known: [Int64])
        /// Have the database close lost server `id` (its rows named as its members held here,
        /// ``ClusterView/remoteMembers(of:)``); report with ``lostServerClosed(_:_:)`` or
        /// ``lostServerCloseFailed(_:)``.
        case closeLostServer(Int64)
        /// Call ``snapshotRequestDue(now:)`` at this time.
        case requestSnapshotsAt(NIODeadline)
        /// In contact with the rosters exchanged (or given up waiting for them), or shut down: start-up may go
        /// on. Once.
        case ready
        /// Log this.
        case report(Report)
    }

    /// What the node logs.
    package enum Report: Equatable, Sendable {
        case contactBegan
        case contactLost(String)
        case fellBehind(dropped: Int)
        case missedMessages(server: Int64, count: UInt64)
        case notAMessage(bytes: Int)
        case sendingBacklogged(Bool)
        case lateServerAlive(Int64)
        case serverLost(Int64)
        case lostServerRowsClosed(server: Int64, rows: Int)
        case serverRejoined(Int64)
    }

    /// A snapshot arriving in parts: the next part expected, and the members so far.
    struct PartialSnapshot {
        var next: Int
        var members: [RemoteMember]
    }

    // The state. Internal rather than private only for the extensions in `ClusterStateMachine+*.swift`; written
    // by this type's methods alone.
    package let configuration: Configuration
    /// `sb1 ID `: the start of every payload this server sends, by which its echoes are known.
    let ownPrefix: String

    /// In contact with the other servers (the transport listens).
    package private(set) var inContact = false
    /// Numbers contacts, so an answer about an earlier one is not taken for this one's.
    private var contact: UInt64 = 0
    /// Clients were told contact was lost, and not yet that it is back.
    private var lossAnnounced = false
    /// Other servers heard from and not known to be gone: contact matters to clients only when there are some
    /// (a lone server on PostgreSQL says nothing about an outage).
    var peers: Set<Int64> = []
    /// When contact last began: no server is judged lost until a whole `--server-timeout` after it.
    private var contactSince: NIODeadline?
    /// Events of this tick, sent at its end.
    private var outgoing: [ClusterEvent] = []
    var snapshotRequested = false
    private var nextSequence: UInt64 = 1
    /// The last sequence number seen from each server.
    var lastSequence: [Int64: UInt64] = [:]
    var snapshotParts: [Int64: PartialSnapshot] = [:]
    /// While syncing after contact began (the sync timer runs): the live servers whose snapshot has not come
    /// yet, once listed.
    private var syncing = false
    private var awaitedSnapshots: Set<Int64>?
    private var snapshotsSeenSinceContact: Set<Int64> = []
    private var readyPending = true
    var lastFellBehindNotice: NIODeadline?
    var lastSnapshotRequest: NIODeadline?
    /// A roster request held back by the one-a-second limit is waiting for its turn.
    var snapshotRequestScheduled = false
    /// The sending backlog turned the host's producer gate on.
    package private(set) var isBehind = false
    package private(set) var isShutDown = false

    // The other servers' health (``ClusterStateMachine+Servers.swift``).
    var statusCheckRunning = false
    /// The status check in flight may judge lateness (a whole `--server-timeout` in contact).
    var judgesLateness = false
    /// Servers whose members left because the database said they stopped or were lost: not heard until it
    /// says one is live again.
    var departed: Set<Int64> = []
    /// Servers back from the dead whose snapshot is awaited: its members are shown joining.
    var rejoining: Set<Int64> = []
    /// Servers being judged lost right now (the database's answer is on its way).
    var judging: Set<Int64> = []

    // Name claims (``ClusterStateMachine+Servers.swift``).
    /// Local members whose claim is with the database now.
    package internal(set) var pendingClaims: Set<ConnectionKey> = []
    /// Local members holding a claim in the database.
    var claimed: Set<ConnectionKey> = []

    package init(configuration: Configuration) {
        self.configuration = configuration
        self.ownPrefix = ClusterMessage.prefix(of: configuration.serverID)
    }

    var serverID: Int64 { configuration.serverID }

    /// When contact last began, for the status checks.
    var contactSinceForChecks: NIODeadline? { contactSince }

    /// Forgets what was heard from `server` (its place in its stream, a snapshot in parts), and that it is a
    /// peer.
    mutating func forget(_ server: Int64) {
        lastSequence[server] = nil
        snapshotParts[server] = nil
        peers.remove(server)
    }

    /// Takes `server` back as a peer whose next snapshot shows its members joining.
    mutating func rejoin(_ server: Int64) {
        peers.insert(server)
        rejoining.insert(server)
    }

    // MARK: - Contact

    /// The transport is in contact (the first time, or again after an outage).
    package mutating func contactBegan(now: NIODeadline) -> [Action] {
        inContact = true
        contact &+= 1
        contactSince = now
        lastSequence.removeAll()
        snapshotParts.removeAll()
        snapshotsSeenSinceContact.removeAll()
        _ = publish(.wantSnapshot(server: 0))
        snapshotRequested = true
        // (Visits made while apart: the database counted them; the next heartbeat brings its count.)
        // Wait (bounded) for a snapshot from every live server before saying contact is back.
        syncing = true
        awaitedSnapshots = nil
        return [
            .report(.contactBegan), .reconcileClaims, .startSyncTimer(configuration.syncWait),
            .listLiveServers(contact: contact),
        ]
    }

    /// The transport lost contact (`why`, without secrets).
    package mutating func contactLost(_ why: String) -> [Action] {
        guard inContact else { return [] }
        inContact = false
        contactSince = nil
        outgoing.removeAll()
        var actions: [Action] = [.report(.contactLost(why))]
        actions += sendBacklog(false)  // nothing waits to be sent out of contact
        if syncing {
            syncing = false
            awaitedSnapshots = nil
            actions.append(.cancelSyncTimer)
        }
        if !lossAnnounced && !isShutDown && !peers.isEmpty {
            lossAnnounced = true
            actions.append(.apply(.contactLost))
        }
        return actions
    }

    /// The live servers other than this one, listed for contact number `contact`.
    package mutating func liveServersListed(_ ids: [Int64], contact: UInt64) -> [Action] {
        guard inContact, syncing, contact == self.contact else { return [] }
        // Those whose snapshot came already are not waited for.
        let awaited = Set(ids).subtracting(snapshotsSeenSinceContact)
        awaitedSnapshots = awaited
        return awaited.isEmpty ? synced() : []
    }

    /// The wait for the live servers' snapshots is over.
    package mutating func syncTimerFired() -> [Action] {
        synced()
    }

    mutating func snapshotArrived(from server: Int64) -> [Action] {
        snapshotsSeenSinceContact.insert(server)
        guard var awaited = awaitedSnapshots else { return [] }
        awaited.remove(server)
        awaitedSnapshots = awaited
        return awaited.isEmpty ? synced() : []
    }

    /// Contact (re)established and the rosters exchanged, or the wait is over.
    private mutating func synced() -> [Action] {
        guard syncing else { return [] }
        syncing = false
        awaitedSnapshots = nil
        var actions: [Action] = [.cancelSyncTimer]
        if lossAnnounced {
            lossAnnounced = false
            actions.append(.apply(.contactRestored))
        }
        if readyPending {
            readyPending = false
            actions.append(.ready)
        }
        return actions
    }

    // MARK: - Sending

    /// Queues `event` for the end of this tick; `false` when it is not sent (out of contact, or shut down).
    package mutating func publish(_ event: ClusterEvent) -> Bool {
        guard inContact, !isShutDown else { return false }
        outgoing.append(event)
        return true
    }

    /// Whether there is anything to send at the end of the tick.
    package var hasOutgoing: Bool { !outgoing.isEmpty || snapshotRequested }

    /// This tick's events as payloads (the snapshot first, if one was asked for: `localMembers` is read only
    /// then), numbered on.
    package mutating func flush(localMembers: @autoclosure () -> [LocalMember]) -> [String] {
        var payloads: [String] = []
        if snapshotRequested {
            snapshotRequested = false
            if inContact {
                payloads += ClusterMessage.snapshot(
                    localMembers().map(\.joinedEvent), origin: serverID, nextSequence: &nextSequence,
                    limit: configuration.payloadLimit)
            }
        }
        if !outgoing.isEmpty {
            payloads += ClusterMessage.pack(
                outgoing, origin: serverID, nextSequence: &nextSequence, limit: configuration.payloadLimit)
            outgoing.removeAll(keepingCapacity: true)
        }
        return payloads
    }

    /// Whether what waits to be sent is past the transport's high-water mark: the host's producer gate
    /// follows it (on after a flush finds it so, off once it has drained or contact is lost).
    package mutating func sendBacklog(_ backlogged: Bool) -> [Action] {
        guard backlogged != isBehind else { return [] }
        isBehind = backlogged
        return [.report(.sendingBacklogged(backlogged)), .apply(.sendingBacklogged(backlogged))]
    }

    // MARK: - Shutdown

    /// No more sending or applying (flush what is left first).
    package mutating func shutdown() -> [Action] {
        isShutDown = true
        var actions: [Action] = []
        if syncing {
            syncing = false
            actions.append(.cancelSyncTimer)
        }
        if readyPending {
            readyPending = false
            actions.append(.ready)
        }
        return actions
    }
}
