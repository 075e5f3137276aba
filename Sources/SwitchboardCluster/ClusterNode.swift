import Logging
import NIOCore
import SwitchboardHistory
import SwitchboardProtocol

/// Cluster mode: this server as one node of the servers on one PostgreSQL database, which are one chat. Each
/// hub tells the others what happened in each of its ticks (one payload per tick, ``ClusterMessage``),
/// applies what they tell it, and asks PostgreSQL who may hold a name.
///
/// ```
///  hub tick ──publish──▶ node ──flush()──▶ transport (NOTIFY)  ···  transport (LISTEN) ──wake──▶ node
///                                                                       applyNext() ──▶ host.apply(change)
///  timers, database answers ──▶ node ──▶ ClusterStateMachine ──actions──▶ node: send, ask, schedule, apply
/// ```
///
/// The node is thin: every decision is ``ClusterStateMachine``'s; the node feeds it what the transport hands
/// over, timer firings and the directory's answers, and carries out the actions it returns: payloads to the
/// transport, statements through the ``ClusterDirectory``, timers on the loop, changes to the host, log
/// lines. It calls nothing of the chat but ``ClusterHost/apply(_:)`` and the read-only ``ClusterView``.
///
/// What the chat calls on it: ``publish(_:)`` (an event of this tick), ``flush()`` (the end of the tick),
/// ``claim(_:for:at:)`` and ``release(_:)`` (names), ``applyNext()`` (one thing from the others, within the
/// hub's fan-out budget), ``rejoined()``, ``start(onWork:)`` and ``shutdown()``.
///
/// Ownership: everything here lives on the hub's event loop; database work runs on the pool and comes back
/// to the loop; the transport runs on its own threads and only wakes the loop.
package final class ClusterNode {
    package let eventLoop: any EventLoop
    private var machine: ClusterStateMachine
    private let transport: any ClusterTransport
    private let directory: any ClusterDirectory
    private let logger: Logger
    /// The chat this node serves; it owns the node, so it outlives it on the loop.
    private unowned let host: any ClusterHost

    /// What the transport handed over and is not applied yet (taken only when this is empty, so at most one
    /// inbox's worth waits here).
    private var inbound = CircularBuffer<ClusterTransportEvent>()
    private var onWork: (() -> Void)?
    private var syncTimer: Scheduled<Void>?
    private var statusCheck: RepeatedTask?
    private var readyPromise: EventLoopPromise<Void>?

    /// How long to wait for the live servers' snapshots after contact begins.
    package static let syncWait = TimeAmount.seconds(3)
    /// How often the servers table is checked for stopped and lost servers.
    package static let statusInterval = TimeAmount.seconds(1)

    package init(
        serverID: Int64, host: any ClusterHost, transport: any ClusterTransport, directory: any ClusterDirectory,
        serverTimeout: TimeAmount, eventLoop: any EventLoop, logger: Logger
    ) {
        var configuration = ClusterStateMachine.Configuration(serverID: serverID, serverTimeout: serverTimeout)
        configuration.syncWait = ClusterNode.syncWait
        self.machine = ClusterStateMachine(configuration: configuration)
        self.host = host
        self.eventLoop = eventLoop
        self.transport = transport
        self.directory = directory
        self.logger = logger
    }

    /// Starts listening; `onWork` is called (on the loop) whenever the node has something for the chat to do:
    /// what the others said waits (``applyNext()``), or something waits to be sent (``flush()``). The future
    /// completes once this server is in contact and has the other servers' rosters (or gave up waiting).
    package func start(onWork: @escaping () -> Void) -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        self.onWork = onWork
        let promise = eventLoop.makePromise(of: Void.self)
        readyPromise = promise
        let me = NIOLoopBound(self, eventLoop: eventLoop)
        let loop = eventLoop
        transport.start { loop.execute { me.value.woken() } }
        statusCheck = loop.scheduleRepeatedTask(initialDelay: ClusterNode.statusInterval, delay: ClusterNode.statusInterval) { _ in
            me.value.statusTimerFired()
        }
        return promise.futureResult
    }

    // MARK: - What the chat calls

    /// In contact with the other servers.
    package var inContact: Bool { machine.inContact }

    /// How many other servers are heard from and not known to be gone (the metrics' servers alive).
    package var peerCount: Int { machine.peers.count }

    /// Queues `event` for the end of this tick; `false` when it will not be sent (out of contact): the caller
    /// makes sure the tick ends with a ``flush()`` otherwise.
    package func publish(_ event: ClusterEvent) -> Bool {
        machine.publish(event)
    }

    /// Whether there is anything to send at the end of the tick.
    package var hasOutgoing: Bool { machine.hasOutgoing }

    /// Sends this tick's events (and the snapshot, if one was asked for). Called by the chat at the end of each
    /// tick.
    package func flush() {
        let host = self.host
        let payloads = machine.flush(localMembers: host.localMembers)
        for payload in payloads where !transport.send(payload) {
            // Out of contact, or the outbox is full (the transport logs that once per episode): the other
            // servers see the gap in the sequence numbers and ask for this server's roster again.
            logger.debug("cluster payload dropped by the transport")
        }
        if !payloads.isEmpty, transport.isBacklogged { perform(machine.sendBacklog(true)) }
    }

    /// Whether something from the other servers waits to be applied (taken from the transport if need be).
    package var hasInbound: Bool {
        if inbound.isEmpty && !machine.isShutDown { inbound.append(contentsOf: transport.take()) }
        return !inbound.isEmpty
    }

    /// Applies the next thing the other servers said (or the transport reported); returns its cost in bytes
    /// for the hub's fan-out budget, or `nil` when nothing waits.
    package func applyNext() -> Int? {
        guard hasInbound, !machine.isShutDown else { return nil }
        switch inbound.removeFirst() {
        case .connected:
            perform(machine.contactBegan(now: eventLoop.now))
            return 0
        case .disconnected(let why):
            perform(machine.contactLost(why))
            return 0
        case .dropped(let count):
            perform(machine.dropped(count, now: eventLoop.now, someoneToTell: host.hasLocalMembers))
            return 0
        case .payload(let payload):
            // Decoding is work too, whoever the lines are for; an own echo is told by its prefix alone.
            if machine.isOwnEcho(payload) { return 0 }
            perform(machine.received(payload))
            return payload.utf8.count
        }
    }

    /// Whether a claim of local member `id` is with the database now.
    package func isClaimPending(_ id: ConnectionKey) -> Bool { machine.pendingClaims.contains(id) }

    /// Claims `nickname` in the database for local member `id`; the future says whether it holds it now.
    package func claim(_ nickname: String, for id: ConnectionKey, at time: Int64) -> EventLoopFuture<Bool> {
        machine.claimStarted(id)
        let claim = ClusterRepository.Claim(
            nickname: nickname, key: Nickname.key(nickname), connection: id.rawValue, claimedAt: time)
        let claimed = directory.claim(claim)
        claimed.assumeIsolated().whenComplete { result in
            self.machine.claimFinished(id, held: try? result.get())
        }
        return claimed
    }

    /// Local member `id` left, or lost or gave up its name: drops what it holds in the database, if anything.
    package func release(_ id: ConnectionKey) {
        if machine.release(id) { directory.release(connection: id.rawValue) }
    }

    /// This server had been taken for lost and its heartbeat made it live again (called by the heartbeat's
    /// report, on the loop).
    package func rejoined() {
        eventLoop.preconditionInEventLoop()
        perform(machine.rejoined())
    }

    /// Sends what this tick left (the members' leaves), then stops the transport.
    package func shutdown() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        flush()
        perform(machine.shutdown())
        statusCheck?.cancel()
        statusCheck = nil
        onWork = nil
        let transport = self.transport
        let promise = eventLoop.makePromise(of: Void.self)
        promise.completeWithTask { await transport.stop() }
        return promise.futureResult
    }

    // MARK: - Inputs of the node's own

    /// The transport has something (or its send backlog drained).
    private func woken() {
        guard !machine.isShutDown else { return }
        if machine.isBehind && !transport.isBacklogged { perform(machine.sendBacklog(false)) }
        onWork?()
    }

    private func statusTimerFired() {
        perform(machine.statusTimerFired(now: eventLoop.now, remoteServers: host.remoteServers))
    }

    // MARK: - Carrying out the machine's actions

    /// Carries out `actions` in order; then, if something waits to be sent, tells the chat (which flushes at
    /// the end of its tick).
    private func perform(_ actions: [ClusterStateMachine.Action]) {
        for action in actions {
            switch action {
            case .apply(let change):
                host.apply(change)
            case .reconcileClaims:
                reconcileClaims()
            case .listLiveServers(let contact):
                directory.liveServerIDs().assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(let ids): self.perform(self.machine.liveServersListed(ids, contact: contact))
                    case .failure(let error):
                        self.logger.debug("cannot list the live servers", metadata: ["error": "\(error)"])
                    }
                }
            case .startSyncTimer(let delay):
                syncTimer?.cancel()
                syncTimer = eventLoop.assumeIsolated().scheduleTask(in: delay) {
                    self.syncTimer = nil
                    self.perform(self.machine.syncTimerFired())
                }
            case .cancelSyncTimer:
                syncTimer?.cancel()
                syncTimer = nil
            case .checkServers(let known):
                directory.serverStatuses(known: known).assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(let statuses): self.perform(self.machine.serversChecked(statuses))
                    case .failure: self.machine.serverCheckFailed()
                    }
                }
            case .closeLostServer(let id):
                closeLostServer(id)
            case .requestSnapshotsAt(let deadline):
                eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                    self.perform(self.machine.snapshotRequestDue(now: self.eventLoop.now))
                }
            case .ready:
                readyPromise?.succeed()
                readyPromise = nil
            case .report(let report):
                log(report)
            }
        }
        if machine.hasOutgoing { onWork?() }
    }

    /// Claims again every name the local members hold (they may have been taken while the servers were apart,
    /// or while this server was taken for lost); members whose claim is later than another server's lose
    /// theirs.
    private func reconcileClaims() {
        let claims = host.localMembers.filter { !$0.isGuestName }
        let requests = claims.map { member in
            ClusterRepository.Claim(
                nickname: member.nickname, key: Nickname.key(member.nickname), connection: member.id.rawValue,
                claimedAt: member.claimedAt)
        }
        directory.reconcile(requests).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let lost):
                self.perform(self.machine.claimsReconciled(claims, lost: lost))
            case .failure(let error):
                self.logger.warning("cannot claim this server's nicknames again", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A late server: the database marks it lost unless its heartbeat came back meanwhile.
    private func closeLostServer(_ id: Int64) {
        // Its rows carry the names their members had when it was lost (a row's name is written at its close).
        let names = host.remoteMembers(of: id).filter { $0.visitor > 0 }.map { (visitor: $0.visitor, nickname: $0.nickname) }
        directory.closeLostServer(id, names: names).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let outcome):
                self.perform(self.machine.lostServerClosed(id, outcome))
            case .failure(let error):
                // Judged again at the next check.
                self.machine.lostServerCloseFailed(id)
                self.logger.warning("cannot close a lost server's connections", metadata: ["server": "\(id)", "error": "\(error)"])
            }
        }
    }

    private func log(_ report: ClusterStateMachine.Report) {
        switch report {
        case .contactBegan:
            logger.info("in contact with the other servers")
        case .contactLost(let why):
            logger.warning("lost contact with the other servers", metadata: ["error": "\(why)"])
        case .fellBehind(let count):
            logger.warning("fell behind the other servers; dropped their messages", metadata: ["count": "\(count)"])
        case .missedMessages(let server, let count):
            logger.warning("missed cluster messages; asking for a snapshot", metadata: ["server": "\(server)", "missed": "\(count)"])
        case .notAMessage(let bytes):
            logger.debug("ignoring a payload that is not a cluster message", metadata: ["bytes": "\(bytes)"])
        case .sendingBacklogged(let behind):
            logger.debug(behind ? "cluster sending is backlogged; holding back producers" : "cluster sending caught up")
        case .lateServerAlive(let id):
            logger.notice("a late server's heartbeat came back before it was taken for lost", metadata: ["server": "\(id)"])
        case .serverLost(let id):
            logger.warning("server lost: no heartbeat within --server-timeout", metadata: ["server": "\(id)"])
        case .lostServerRowsClosed(let id, let rows):
            logger.notice("closed the connections of a lost server", metadata: ["server": "\(id)", "count": "\(rows)"])
        case .serverRejoined(let id):
            logger.notice("a server taken for lost is back; asking for its roster", metadata: ["server": "\(id)"])
        }
    }
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension ClusterNode: Sendable {}
