import Logging
import NIOCore
import SwitchboardProtocol
import SwitchboardHistory
import SwitchboardCluster

/// Cluster mode: the servers on one PostgreSQL database as one chat. Each hub tells the others what
/// happened in each of its ticks (one NOTIFY per tick, ``ClusterMessage``), applies what they tell it, and
/// asks PostgreSQL who may hold a name.
///
/// ```
///  hub tick ──events──▶ flush() ──pack──▶ transport (NOTIFY)  ···  transport (LISTEN) ──wake──▶ receive()
///                                                                        └─ drop own echoes, notice gaps,
///                                                                           apply to the hub
///  connected ──▶ W 0 + own snapshot; reconcile name claims; wait for the live servers' snapshots
///               ──▶ `* back in contact with the other servers (N clients connected)` (after an outage)
///  every second (in contact): servers stopped → members leave (server shutdown);
///                             heartbeat older than --server-timeout (the database's judgement, made again
///                             in the statement that marks it) → members leave (server lost), rows closed;
///                             such a server's payloads are ignored until the database says it is live
///                             again → W SERVER, its snapshot, its members shown joining
///  this server taken for lost (its heartbeat says so) ──▶ ``rejoined()``: claims reconciled, others ask
/// ```
///
/// Receiving is a ``FanOutWorker``: what the transport hands over is applied while the hub's per-tick
/// fan-out budget lasts (each payload's bytes, and the lines it fans out, are charged to it), and the rest
/// waits its turn after the tick's flush, so timers and newcomers are served however much the others say.
/// The transport bounds what waits for it (and drops past that, which the clients are told of).
///
/// Sending is paced by the transport (`--cluster-send-rate`); while what waits to be sent is past its
/// high-water mark (``ClusterTransport/isBacklogged``) the hub's producer gate is on for the cluster
/// (``ChatHub/setBehind(_:_:)``): clients that said their share of lines since then wait, unread, until it
/// drains.
///
/// Ownership: everything here lives on the hub's event loop; database work runs on the pool and comes
/// back to the loop; the transport runs on its own threads and only wakes the loop.
final class ChatCluster: FanOutWorker {
    let serverID: Int64
    let eventLoop: any EventLoop
    private let transport: any ClusterTransport
    private let directory: any ClusterDirectory
    private let serverTimeout: TimeAmount
    private let logger: Logger
    /// The hub this cluster serves; it owns the cluster, so it outlives it on the loop.
    unowned let hub: ChatHub

    /// In contact with the other servers (the transport listens).
    private(set) var inContact = false
    /// Clients were told contact was lost, and not yet that it is back.
    private var lossAnnounced = false
    /// Other servers heard from and not known to be gone: contact matters to clients only when there are some
    /// (a lone server on PostgreSQL says nothing about an outage, as it never did).
    private var peers: Set<Int64> = []
    /// How many other servers are heard from (issue 25: the metrics' servers alive).
    var peerCount: Int { peers.count }
    /// When contact last began: no server is judged lost until a whole `--server-timeout` after it (their
    /// heartbeats could not be written while the database was away either).
    private var contactSince: NIODeadline?
    /// Events of this tick, sent at its end.
    private var outgoing: [ClusterEvent] = []
    private var snapshotRequested = false
    private var nextSequence: UInt64 = 1
    /// The last sequence number seen from each server.
    private var lastSequence: [Int64: UInt64] = [:]
    /// Snapshots arriving in parts.
    private var snapshotParts: [Int64: (next: Int, members: [Roster.RemoteMember])] = [:]
    /// After contact begins: the live servers whose snapshot has not come yet.
    private var awaitedSnapshots: Set<Int64>?
    private var syncTimer: Scheduled<Void>?
    private var statusCheck: RepeatedTask?
    private var statusCheckRunning = false
    private var readyPromise: EventLoopPromise<Void>?
    private var lastFellBehindNotice: NIODeadline?
    private var lastSnapshotRequest: NIODeadline?
    /// A roster request held back by the one-a-second limit is waiting for its turn.
    private var snapshotRequestScheduled = false
    /// Name claims waiting for the database, by member.
    private(set) var pendingClaims: Set<ConnectionKey> = []
    private var isShutDown = false

    /// What the transport handed over and is not applied yet (taken only when this is empty, so at most one
    /// inbox's worth waits here).
    private var inbound = CircularBuffer<ClusterTransportEvent>()
    /// Waiting for fan-out budget (set by the hub).
    var isParked = false
    private var draining = false
    /// The producer gate is on for the cluster: the transport is backlogged.
    private var isBehind = false

    /// Servers whose members left because the database said they stopped or were lost: their payloads are
    /// ignored (a server taken for lost may not know it yet and go on talking) until the database says one
    /// is live again.
    private var departed: Set<Int64> = []
    /// Servers back from the dead whose snapshot is awaited: its members are shown joining.
    private var rejoining: Set<Int64> = []
    /// Servers being judged lost right now (the database's answer is on its way).
    private var judging: Set<Int64> = []

    /// The start of every payload this server sends: `sb1 ID `.
    private lazy var ownPrefix = "\(ClusterMessage.magic) \(serverID) "

    /// How long to wait for the live servers' snapshots after contact begins.
    static let syncWait = TimeAmount.seconds(3)
    /// How often the servers table is checked for stopped and lost servers.
    static let statusInterval = TimeAmount.seconds(1)

    init(
        serverID: Int64, hub: ChatHub, transport: any ClusterTransport, directory: any ClusterDirectory,
        serverTimeout: TimeAmount, logger: Logger
    ) {
        self.serverID = serverID
        self.hub = hub
        self.eventLoop = hub.eventLoop
        self.transport = transport
        self.directory = directory
        self.serverTimeout = serverTimeout
        self.logger = logger
    }

    /// Starts listening; the future completes once this server is in contact and has the other servers'
    /// rosters (or gave up waiting for them).
    func start() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        let promise = eventLoop.makePromise(of: Void.self)
        readyPromise = promise
        let loop = eventLoop
        let me = NIOLoopBound(self, eventLoop: loop)
        transport.start { loop.execute { me.value.woken() } }
        statusCheck = loop.scheduleRepeatedTask(initialDelay: ChatCluster.statusInterval, delay: ChatCluster.statusInterval) { _ in
            me.value.checkServers()
        }
        return promise.futureResult
    }

    // MARK: - Out

    /// Queues `event` for the end of this tick.
    func publish(_ event: ClusterEvent) {
        guard inContact, !isShutDown else { return }
        outgoing.append(event)
        hub.scheduleTickTask()
    }

    /// Whether there is anything to send at the end of the tick.
    var hasOutgoing: Bool { !outgoing.isEmpty || snapshotRequested }

    /// Sends this tick's events as one payload (more past the size limit), and the snapshot if one was
    /// asked for. Called by the hub at the end of each tick.
    func flush() {
        if snapshotRequested {
            snapshotRequested = false
            if inContact {
                for payload in ClusterMessage.snapshot(hub.localSnapshot(), origin: serverID, nextSequence: &nextSequence) {
                    transport.send(payload)
                }
            }
        }
        guard !outgoing.isEmpty else { return }
        var oversized = 0
        let payloads = ClusterMessage.pack(outgoing, origin: serverID, nextSequence: &nextSequence, oversized: &oversized)
        outgoing.removeAll(keepingCapacity: true)
        for payload in payloads where !transport.send(payload) {
            // Out of contact, or the outbox is full (the link logs that once per episode): the other servers
            // see the gap in the sequence numbers and ask for this server's roster again.
            logger.debug("cluster payload dropped by the transport")
        }
        if oversized > 0 { logger.error("cluster events too large to send", metadata: ["count": "\(oversized)"]) }
        if !isBehind && transport.isBacklogged { setBehind(true) }
    }

    /// Turns the hub's producer gate on or off for the cluster.
    private func setBehind(_ behind: Bool) {
        guard behind != isBehind else { return }
        isBehind = behind
        logger.debug(behind ? "cluster sending is backlogged; holding back producers" : "cluster sending caught up")
        hub.setBehind(.cluster, behind)
    }

    // MARK: - In

    /// The transport has something (or its send backlog drained).
    private func woken() {
        guard !isShutDown else { return }
        if isBehind && !transport.isBacklogged { setBehind(false) }
        drain()
    }

    /// Applies what the transport handed over while the hub's fan-out budget lasts; parks with the rest.
    func drain() {
        guard !isShutDown, !isParked, !draining else { return }
        draining = true
        defer { draining = false }
        while true {
            if inbound.isEmpty {
                inbound.append(contentsOf: transport.take())
                if inbound.isEmpty { return }
            }
            guard hub.mayWork else {
                hub.park(self)
                return
            }
            switch inbound.removeFirst() {
            case .connected: contactBegan()
            case .disconnected(let why): contactLost(why)
            case .dropped(let count): fellBehind(count)
            case .payload(let payload): apply(payload)
            }
            if isShutDown { return }
        }
    }

    private func apply(_ payload: String) {
        // Our own echo, told by its header alone (the origin is the second field), before any decoding.
        if payload.hasPrefix(ownPrefix) { return }
        hub.charge(payload.utf8.count)  // decoding is work too, whoever the lines are for
        guard let message = ClusterMessage(decoding: payload) else {
            logger.debug("ignoring a payload that is not a cluster message", metadata: ["bytes": "\(payload.utf8.count)"])
            return
        }
        guard message.origin != serverID else { return }  // our own echo
        guard !departed.contains(message.origin) else { return }  // taken for lost: not heard until it is back
        peers.insert(message.origin)
        if let last = lastSequence[message.origin] {
            if message.sequence <= last { return }  // a repeat
            if message.sequence != last + 1 {
                logger.warning("missed cluster messages; asking for a snapshot",
                               metadata: ["server": "\(message.origin)", "missed": "\(message.sequence - last - 1)"])
                snapshotParts[message.origin] = nil
                publish(.wantSnapshot(server: message.origin))
            }
        }
        lastSequence[message.origin] = message.sequence
        let origin = message.origin
        switch message.kind {
        case .snapshot(let part, let parts):
            var collected = part == 1 ? (next: 1, members: []) : (snapshotParts[origin] ?? (next: 0, members: []))
            guard collected.next == part else {
                snapshotParts[origin] = nil
                return
            }
            for case .joined(let member, let visitor, let claimedAt, let nickname) in message.events {
                collected.members.append(Roster.RemoteMember(
                    id: Roster.RemoteID(server: origin, member: member), nickname: nickname, claimedAt: claimedAt,
                    visitor: visitor))
            }
            collected.next += 1
            if part == parts {
                snapshotParts[origin] = nil
                hub.replaceRemoteMembers(
                    of: origin, with: collected.members, announcingNewcomers: rejoining.remove(origin) != nil)
                snapshotArrived(from: origin)
            } else {
                snapshotParts[origin] = collected
            }
        case .events:
            for event in message.events { apply(event, from: origin) }
        }
    }

    private func apply(_ event: ClusterEvent, from origin: Int64) {
        func id(_ member: UInt64) -> Roster.RemoteID { Roster.RemoteID(server: origin, member: member) }
        switch event {
        case .joined(let member, let visitor, let claimedAt, let nickname):
            hub.remoteJoined(Roster.RemoteMember(id: id(member), nickname: nickname, claimedAt: claimedAt, visitor: visitor))
        case .left(let member, let reason):
            hub.remoteLeft(id(member), shownAs: reason)
        case .renamed(let member, let claimedAt, let nickname):
            hub.remoteRenamed(Roster.RemoteMember(id: id(member), nickname: nickname, claimedAt: claimedAt))
        case .said(let member, let text):
            hub.remoteSaid(id(member), text, kind: .say)
        case .acted(let member, let text):
            hub.remoteSaid(id(member), text, kind: .me)
        case .privateMessage(let from, let toServer, let to, let text):
            if toServer == serverID { hub.remotePrivateMessage(from: id(from), to: ConnectionKey(to), text) }
        case .wantSnapshot(let server):
            if server == 0 || server == serverID {
                snapshotRequested = true
                hub.scheduleTickTask()
            }
        }
    }

    // MARK: - Contact

    private func contactBegan() {
        logger.info("in contact with the other servers")
        inContact = true
        contactSince = eventLoop.now
        lastSequence.removeAll()
        snapshotParts.removeAll()
        snapshotsSeenSinceContact.removeAll()
        publish(.wantSnapshot(server: 0))
        snapshotRequested = true
        hub.scheduleTickTask()
        reconcileClaims()
        // (Visits made while apart: the database counted them; the next heartbeat brings its count.)
        // Wait (bounded) for a snapshot from every live server before saying contact is back.
        awaitedSnapshots = nil
        syncTimer?.cancel()
        syncTimer = eventLoop.assumeIsolated().scheduleTask(in: ChatCluster.syncWait) { self.synced() }
        directory.liveServerIDs().assumeIsolated().whenComplete { result in
            guard self.inContact, self.syncTimer != nil else { return }
            switch result {
            case .success(let ids):
                // Those whose snapshot came already are not waited for.
                self.awaitedSnapshots = Set(ids).subtracting(self.snapshotsSeenSinceContact)
                if self.awaitedSnapshots!.isEmpty { self.synced() }
            case .failure(let error):
                self.logger.debug("cannot list the live servers", metadata: ["error": "\(error)"])
            }
        }
    }

    private var snapshotsSeenSinceContact: Set<Int64> = []

    private func snapshotArrived(from server: Int64) {
        snapshotsSeenSinceContact.insert(server)
        guard var awaited = awaitedSnapshots else { return }
        awaited.remove(server)
        awaitedSnapshots = awaited
        if awaited.isEmpty { synced() }
    }

    /// Contact (re)established and the rosters exchanged, or the wait is over.
    private func synced() {
        guard syncTimer != nil else { return }
        syncTimer?.cancel()
        syncTimer = nil
        awaitedSnapshots = nil
        if lossAnnounced {
            lossAnnounced = false
            hub.announce(ChatText.backInContact(connected: hub.connectedCount))
        }
        readyPromise?.succeed()
        readyPromise = nil
    }

    private func contactLost(_ why: String) {
        guard inContact else { return }
        logger.warning("lost contact with the other servers", metadata: ["error": "\(why)"])
        inContact = false
        contactSince = nil
        outgoing.removeAll()
        setBehind(false)  // nothing waits to be sent out of contact
        syncTimer?.cancel()
        syncTimer = nil
        if !lossAnnounced && !isShutDown && !peers.isEmpty {
            lossAnnounced = true
            hub.announce(ChatText.lostContact)
        }
    }

    /// The transport dropped payloads because this server fell behind: ask everyone for snapshots, and tell
    /// the clients (at most every ten seconds) that lines from the other servers were lost.
    private func fellBehind(_ count: Int) {
        logger.warning("fell behind the other servers; dropped their messages", metadata: ["count": "\(count)"])
        lastSequence.removeAll()
        snapshotParts.removeAll()
        let now = eventLoop.now
        requestSnapshots()
        if lastFellBehindNotice.map({ now - $0 >= .seconds(10) }) ?? true, hub.announce(ChatText.fellBehind) > 0 {
            lastFellBehindNotice = now  // a notice nobody was there to see does not count
        }
    }

    /// Asks every server for its roster: now, or — at most one request a second, so the snapshots it brings
    /// are not what overflows the inbox again — once the second is up. A request held back is never dropped:
    /// the drop that called for it may have been of the last request's answers, and nothing else would ask.
    private func requestSnapshots() {
        let now = eventLoop.now
        let due = lastSnapshotRequest.map { $0 + .seconds(1) } ?? now
        if due <= now {
            lastSnapshotRequest = now
            publish(.wantSnapshot(server: 0))
        } else if !snapshotRequestScheduled {
            snapshotRequestScheduled = true
            eventLoop.assumeIsolated().scheduleTask(deadline: due) {
                self.snapshotRequestScheduled = false
                guard !self.isShutDown else { return }
                self.requestSnapshots()
            }
        }
    }

    // MARK: - Names

    /// Claims `nickname` in the database for local member `id`; the future says whether it holds it now.
    func claim(_ nickname: String, for id: ConnectionKey, at time: Int64) -> EventLoopFuture<Bool> {
        pendingClaims.insert(id)
        let claim = ClusterRepository.Claim(nickname: nickname, key: Nickname.key(nickname), connection: id.rawValue, claimedAt: time)
        let claimed = directory.claim(claim)
        claimed.assumeIsolated().whenComplete { _ in self.pendingClaims.remove(id) }
        return claimed
    }


    /// Releases the names local member `id` held (it left, or was renamed to its guest name).
    func release(_ id: ConnectionKey) { directory.release(connection: id.rawValue) }

    /// After contact begins: claims again every name the local members hold (they may have been taken while
    /// the servers were apart); members whose claim is later than another server's get their guest names.
    private func reconcileClaims() {
        let claims = hub.localClaims().map { claim in
            ClusterRepository.Claim(nickname: claim.nickname, key: Nickname.key(claim.nickname),
                                    connection: claim.id.rawValue, claimedAt: claim.claimedAt)
        }
        directory.reconcile(claims).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let lost):
                let lostSet = Set(lost)
                for claim in claims {
                    if lostSet.contains(claim.connection) {
                        self.hub.loseName(ConnectionKey(claim.connection), ifStill: claim.nickname)
                    } else {
                        self.hub.nameClaimed(ConnectionKey(claim.connection), claim.nickname)
                    }
                }
            case .failure(let error):
                self.logger.warning("cannot claim this server's nicknames again", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: - Other servers' health

    /// Members of servers that stopped leave (`server shutdown`); servers whose heartbeat is older than
    /// `--server-timeout` are lost: their members leave (`server lost`) and their rows are closed. Servers
    /// that left so and are live again are taken back.
    ///
    /// Lateness is the database's judgement by its own clock, made when the statement runs and made again
    /// in the one that marks the server lost, so a busy loop here can only delay a judgement, never make a
    /// wrong one; and the heartbeats it judges are written by threads that no loop's load delays.
    private func checkServers() {
        guard inContact, !statusCheckRunning, !isShutDown, let since = contactSince else { return }
        statusCheckRunning = true
        let judgeLateness = eventLoop.now - since >= serverTimeout
        let known = hub.remoteServers.union(departed)
        directory.serverStatuses(known: Array(known)).assumeIsolated().whenComplete { result in
            self.statusCheckRunning = false
            guard case .success(let statuses) = result, !self.isShutDown else { return }
            for status in statuses {
                if status.stopped {
                    if !self.departed.contains(status.id) { self.serverDeparted(status.id, shownAs: "server shutdown") }
                } else if status.late {
                    if judgeLateness { self.serverLost(status.id) }
                } else if self.departed.contains(status.id) {
                    self.serverRejoined(status.id)
                }
            }
        }
    }

    /// A late server: the database marks it lost unless its heartbeat came back meanwhile; then its members
    /// leave here.
    private func serverLost(_ id: Int64) {
        guard judging.insert(id).inserted else { return }
        // Its rows carry the names their members had when it was lost (a row's name is written at its close).
        let names = hub.remoteMembers(of: id).filter { $0.visitor > 0 }.map { (visitor: $0.visitor, nickname: $0.nickname) }
        directory.closeLostServer(id, names: names).assumeIsolated().whenComplete { result in
            self.judging.remove(id)
            guard !self.isShutDown else { return }
            switch result {
            case .success(.alive):
                self.logger.notice("a late server's heartbeat came back before it was taken for lost", metadata: ["server": "\(id)"])
            case .success(let outcome):
                if !self.departed.contains(id) {
                    self.logger.warning("server lost: no heartbeat within --server-timeout", metadata: ["server": "\(id)"])
                }
                if case .closed(let rows) = outcome, rows > 0 {
                    self.logger.notice("closed the connections of a lost server", metadata: ["server": "\(id)", "count": "\(rows)"])
                }
                self.serverDeparted(id, shownAs: "server lost")
            case .failure(let error):
                // Judged again at the next check.
                self.logger.warning("cannot close a lost server's connections", metadata: ["server": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Server `id` stopped or was lost: its members leave, and its payloads are not heard until it is back.
    private func serverDeparted(_ id: Int64, shownAs shown: String) {
        hub.removeServer(id, shownAs: shown)
        lastSequence[id] = nil
        snapshotParts[id] = nil
        peers.remove(id)
        rejoining.remove(id)
        departed.insert(id)
    }

    /// A server taken for lost is live again (it was busy or cut off, not dead, and has rejoined): it is heard
    /// again, and asked for its roster; its members are shown joining.
    private func serverRejoined(_ id: Int64) {
        logger.notice("a server taken for lost is back; asking for its roster", metadata: ["server": "\(id)"])
        departed.remove(id)
        lastSequence[id] = nil
        snapshotParts[id] = nil
        peers.insert(id)
        rejoining.insert(id)
        publish(.wantSnapshot(server: id))
    }

    /// This server had been taken for lost by the others and its heartbeat made its row live again (and
    /// reopened its rows): its members' names are claimed again (a later claim made meanwhile elsewhere gives
    /// way); the others take it back once they see it live, and ask for its roster.
    func rejoined() {
        eventLoop.preconditionInEventLoop()
        guard !isShutDown, inContact else { return }
        reconcileClaims()
    }

    // MARK: - Shutdown

    /// Sends what this tick left (the members' leaves), then stops the transport.
    func shutdown() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        flush()
        isShutDown = true
        statusCheck?.cancel()
        syncTimer?.cancel()
        readyPromise?.succeed()
        readyPromise = nil
        let transport = self.transport
        let promise = eventLoop.makePromise(of: Void.self)
        promise.completeWithTask { await transport.stop() }
        return promise.futureResult
    }
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension ChatCluster: Sendable {}
