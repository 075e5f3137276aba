import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardProtocol
import SwitchboardDatabase
import SwitchboardHistory

/// Twisted's `Factory` for the chat: tracks every client, owns nicknames and counters, fans lines out.
///
/// Ownership: all state lives on ``eventLoop``, the single loop every client channel is registered on, so
/// no locks are needed and a chat line never hops threads. Every method must be called on that loop.
///
/// A broadcast encodes its line once, into the tick's shared buffer (``TickLines``), and records its range in
/// each recipient's output without flushing; recipients are marked dirty and flushed once per event loop
/// tick (one task that runs after every socket the tick found readable has been read). So the lines of every
/// sender read in one tick, and every join or leave announced in it, cost one `writev` per recipient (of
/// slices of that one buffer), not one write per line per recipient — on loopback each write syscall also
/// runs the receiver's TCP path, so this is the main cost of fan-out.
///
/// The rules that keep a hostile client from crashing or stalling the server (README, "Hostile load"):
/// - Nothing inside a fan-out flushes or closes a channel. Flushes and closes wait for the end-of-tick
///   task (``TickScheduler``), which works through lists, so a mass leave is iteration, never recursion.
/// - Work per tick is bounded: every line queued for a client is charged to a fan-out budget
///   (``ChatConfiguration/fanOutBytesPerTick``); a session that finds it spent parks and is resumed after
///   the flush, once the loop has served I/O and timers.
/// - Join and leave notices above ``ChatConfiguration/noticeRate`` a second are batched into one line a
///   second (`* 37 joined, 12 left (10025 clients connected)`), so a mass join or leave costs O(N) lines,
///   not N²/2.
public final class ChatHub {
    public let eventLoop: any EventLoop
    /// The limits and rates in force; ``reconfigure(_:)`` changes them while running (SIGHUP).
    public private(set) var configuration: ChatConfiguration
    let history: any ChatHistory
    let logger: Logger

    /// Who is here and the rules for it (admission, names, counts): a value this hub owns.
    var roster: Roster
    /// Local clients admitted or joined, by id: all the hub knows of them is ``ChatClient``.
    var sessions: [ConnectionKey: any ChatClient] = [:]
    /// Joined local clients, in fan-out order (swap-remove on leave; ``memberSlots`` knows each index).
    var members: [JoinedClient] = []
    private var memberSlots: [ConnectionKey: Int] = [:]
    /// Visitor numbers reserved from the database, so a welcome needs no round trip.
    private let visitors: VisitorNumberReservation

    /// The end of the tick: flushes, closes, the tick's shared lines, the fan-out budget, parked workers.
    let tick: TickScheduler

    // Join/leave notices: named below the rate, batched above it.
    private var notices: NoticeThrottle
    private var batchTimer: Scheduled<Void>?

    private var idleSweep: Scheduled<Void>?
    /// Cluster mode (several servers on one PostgreSQL database): the other servers, once started.
    var cluster: ChatCluster?
    /// Operators, bans, mutes, the MOTD (see ChatHub+Moderation.swift).
    var moderation = ModerationState()
    /// Where moderation is stored, once started (``startModeration(store:)``); without one, operator
    /// commands say moderation is unavailable.
    var moderationStore: (any ChatModerationStore)?
    /// Away, ignore and bell settings of this server's clients (see ChatHub+Preferences.swift).
    var preferences = ClientPreferences()
    /// Accepted connections ever (from the database at start-up, then counted here — in a cluster, the other
    /// servers' joins too, and their count from the database again at every heartbeat): `/count`'s total.
    public var totalVisits: Int64 { roster.totalVisits }
    /// How many of the other servers' visits this hub has heard of, ever: read by the heartbeat thread just
    /// before it reads the database's count (``visitsElsewhereCounted(_:tallyAtRead:)``), so what was heard
    /// since is added on top. Written on the loop only.
    let visitsHeardTally = NIOLockedValueBox<Int64>(0)
    /// Connections whose command the hub is deciding (a `/nick` the database decides, in cluster mode): their
    /// further input waits, so a client's commands take effect in the order it sent them.
    var deciding: Set<ConnectionKey> = []
    /// Whether the hub is deciding a command of `id`'s (see ``deciding``).
    func isDeciding(for id: ConnectionKey) -> Bool { !deciding.isEmpty && deciding.contains(id) }
    /// Set once shutdown begins: no new clients, no leave notices.
    public private(set) var isShuttingDown = false

    /// Back-pressure from what consumes chat lines (history, the other servers) to the clients saying them.
    let gate: ProducerGate
    /// Connections told their lines are not being saved (told once each).
    var toldNotSaved: Set<ConnectionKey> = []

    /// Creates a hub on `eventLoop`. `totalVisits` seeds `/count` (read from the database at start-up).
    public init(
        eventLoop: any EventLoop, history: any ChatHistory, configuration: ChatConfiguration = ChatConfiguration(),
        totalVisits: Int64 = 0, logger: Logger
    ) {
        self.eventLoop = eventLoop
        self.history = history
        self.configuration = configuration
        self.roster = Roster(
            maximumMembers: configuration.maximumClients, maximumPerAddress: configuration.maximumClientsPerAddress,
            totalVisits: totalVisits)
        self.visitors = VisitorNumberReservation(
            eventLoop: eventLoop, history: history, blockSize: configuration.visitorNumberBlock, logger: logger)
        self.logger = logger
        self.notices = NoticeThrottle(now: eventLoop.now)
        self.gate = ProducerGate(eventLoop: eventLoop)
        self.tick = TickScheduler(eventLoop: eventLoop, budget: configuration.fanOutBytesPerTick)
        history.delegate = self
        // The cluster sends what each tick queued for the other servers before the tick's flushes.
        tick.beforeFlush = { [unowned self] in
            if let cluster = self.cluster, cluster.hasOutgoing { cluster.flush() }
        }
        scheduleIdleSweep()
        visitors.refillIfNeeded()
    }

    /// Clients in the room (welcomed), on every server of the cluster: the count every notice and `/count`
    /// shows.
    public var connectedCount: Int { roster.joinedCount }

    /// What the chat has done, for the metrics; sessions add to it too.
    public internal(set) var counters = ChatCounters()

    /// ``counters`` with ``ChatCounters/connected`` filled in: this server's joined clients by transport.
    public func countersNow() -> ChatCounters {
        var now = counters
        now.sendQueueDisconnects = tick.sendQueueDisconnects
        for member in members { now.connected[member.client.transport.name, default: 0] += 1 }
        return now
    }

    /// Takes new limits and rates while running (SIGHUP): `--max-clients` and `--max-per-ip` apply to the next
    /// arrivals (no one is closed for being over a lowered limit), flood control and `--notice-rate` to the
    /// next line and notice, `--idle-timeout` from the next sweep, `--max-line` to new connections (each
    /// session keeps the limit it started with). Values fixed at start (the visitor-number block, the send
    /// queue a connection was given) are the caller's to leave alone.
    public func reconfigure(_ new: ChatConfiguration) {
        eventLoop.preconditionInEventLoop()
        let idleChanged = new.idleTimeout != configuration.idleTimeout
        configuration = new
        tick.budget = new.fanOutBytesPerTick
        roster.maximumMembers = new.maximumClients
        roster.maximumPerAddress = new.maximumClientsPerAddress
        if idleChanged {
            idleSweep?.cancel()
            idleSweep = nil
            scheduleIdleSweep()
        }
    }

    /// The most of this server's own connections at once since ``takeSessionPeak()`` was last called.
    private var sessionPeak = 0

    /// The most of this server's own connections at once since the last call, and how many there are now.
    func takeSessionPeak() -> (peak: Int, now: Int) {
        defer { sessionPeak = sessions.count }
        return (max(sessionPeak, sessions.count), sessions.count)
    }

    /// Checks for idle clients four times per timeout period (at most ten times a second).
    private func scheduleIdleSweep() {
        guard configuration.idleTimeout > .zero, !isShuttingDown else { return }
        let interval = TimeAmount.nanoseconds(max(configuration.idleTimeout.nanoseconds / 4, 100_000_000))
        idleSweep = eventLoop.assumeIsolated().scheduleTask(in: interval) {
            self.closeIdleSessions()
            self.scheduleIdleSweep()
        }
    }

    // MARK: - Arrivals and departures

    /// A new client: admitted, its row recorded, its visitor number awaited (at most
    /// ``ChatConfiguration/visitorNumberWait``), then welcomed and announced — or refused, and the refusal
    /// recorded. See ``ChatClient`` for the sequence.
    func connect(_ client: any ChatClient) {
        eventLoop.preconditionInEventLoop()
        switch admit(client) {
        case .success(let id): open(client, id)
        case .failure(let refusal):
            recordRefusal(client, refusal)
            client.refuse(refusal)
        }
    }

    /// A client behind a front door (TLS, a PROXY header) arrives: admitted now, so handshakes in progress
    /// count against the limits, but neither recorded nor welcomed until ``passedTheDoor(_:_:)``. Returns its
    /// id, or the refusal to tell it once through the door (``refusedAtTheDoor(_:_:)``).
    func arriveAtTheDoor(_ client: any ChatClient) -> Result<ConnectionKey, Roster.Refusal> {
        eventLoop.preconditionInEventLoop()
        return admit(client)
    }

    /// Through the front door: behind a proxy the client's own address is known now and must pass the
    /// per-address limit and the bans; then it is opened as ``connect(_:)`` does, or withdrawn and refused.
    func passedTheDoor(_ client: any ChatClient, _ id: ConnectionKey) {
        eventLoop.preconditionInEventLoop()
        if case .failure(let refusal) = readdress(client, id) {
            withdraw(client, id)
            refusedAtTheDoor(client, refusal)
            return
        }
        open(client, id)
    }

    /// Refused when it arrived at the door, and through it now, where it can read why: recorded, then told.
    func refusedAtTheDoor(_ client: any ChatClient, _ refusal: Roster.Refusal) {
        recordRefusal(client, refusal)
        client.refuse(refusal)
    }

    /// Admits a new connection (its id) or refuses it (counted; the caller records the refusal).
    private func admit(_ client: any ChatClient) -> Result<ConnectionKey, Roster.Refusal> {
        if let refusal = banRefusal(address: client.address) { return .failure(refusal) }
        let result = roster.admit(address: client.address)
        switch result {
        case .success(let id):
            sessions[id] = client
            if sessions.count > sessionPeak { sessionPeak = sessions.count }
            counters.accepted[client.transport.name, default: 0] += 1
        case .failure(let refusal):
            counters.refused[refusal == .serverFull ? "server_full" : "too_many_from_address", default: 0] += 1
        }
        return result
    }

    /// Logs and records a refused connection (a row with its own visitor number).
    private func recordRefusal(_ client: any ChatClient, _ refusal: Roster.Refusal) {
        logger.notice("connection refused", metadata: ["peer": "\(client.peer)", "reason": "\(refusal.recordedReason)"])
        history.connectionRefused(
            visitor: visitors.take(), peer: client.peer, reason: refusal.recordedReason, at: Timestamp.now())
    }

    /// Behind a proxy: the PROXY header named the client at `client.address`; it now counts against that
    /// address's limit and the bans, or is refused.
    private func readdress(_ client: any ChatClient, _ id: ConnectionKey) -> Result<Void, Roster.Refusal> {
        guard sessions[id] === client, let address = client.address else { return .success(()) }
        if let refusal = banRefusal(address: address) { return .failure(refusal) }
        return roster.setAddress(id, to: address)
    }

    /// Forgets an admitted connection that never reached the chat (no row, no notice, no visit): its TLS
    /// handshake or PROXY header failed, or it was refused once its address was known.
    func withdraw(_ client: any ChatClient, _ id: ConnectionKey) {
        eventLoop.preconditionInEventLoop()
        guard sessions[id] === client else { return }
        sessions[id] = nil
        roster.withdraw(id)
    }

    /// Records an admitted client's row and joins it once its visitor number is known (or not, after the
    /// configured wait; see ``VisitorNumberReservation``).
    private func open(_ client: any ChatClient, _ id: ConnectionKey) {
        client.admitted(id)
        visitors.open(id, peer: client.peer, wait: configuration.visitorNumberWait) { visitor in
            self.join(client, id, visitor: visitor)
        }
    }

    /// Completes when the block of visitor numbers on its way (if any) has landed: the server waits for
    /// the first one before it listens, so the first welcomes need no round trip either.
    public func visitorNumbersReady() -> EventLoopFuture<Void> { visitors.ready() }

    /// Gives an admitted client its name and welcome, tells everyone else, and lets it be read (input was
    /// held until now: commands run only once it has a name).
    private func join(_ client: any ChatClient, _ id: ConnectionKey, visitor: Int64?) {
        guard sessions[id] === client, client.joining(id) else { return }
        let now = Timestamp.now().microsecondsSinceEpoch
        guard let nickname = roster.join(id, visitor: visitor, at: now) else { return }
        cluster?.publish(.joined(member: id.rawValue, visitor: visitor ?? 0, claimedAt: now, nickname: nickname))
        memberSlots[id] = members.count
        members.append(JoinedClient(client))
        client.send(ChatText.welcome(nickname: nickname, connected: connectedCount, visitor: visitor))
        if client.isAdminConsole { moderation.operators[id] = ChatHub.adminConsoleName }
        greet(client)
        replayHistory(to: client)
        if takeNamedNotice(joined: true) {
            broadcast(ChatText.joined(nickname, connected: connectedCount), except: client)
        }
        logAccepted(client, id, nickname: nickname, visitor: visitor)
        client.drain()
    }

    /// Forgets a session that closed, tells the others (`shownAs` is the reason in the notice), and records
    /// how it ended (`reason`, and the session's traffic counters).
    func leave(_ session: any ChatClient, _ id: ConnectionKey, reason: String, shownAs shown: String, traffic: Traffic) {
        eventLoop.preconditionInEventLoop()
        guard sessions[id] === session, let member = roster.leave(id) else { return }
        sessions[id] = nil
        counters.closed[ChatCounters.label(forReason: reason), default: 0] += 1
        visitors.settle(id)  // its row is recorded before it is closed
        if let slot = memberSlots.removeValue(forKey: id) {
            let last = members.removeLast()
            if slot < members.count {
                members[slot] = last
                memberSlots[last.client.id!] = slot
            }
        }
        if let nickname = member.nickname, !isShuttingDown, takeNamedNotice(joined: false) {
            broadcast(ChatText.left(nickname, reason: shown, connected: connectedCount), except: session)
        }
        toldNotSaved.remove(id)
        moderation.forget(id)
        preferences.forget(id)
        if let cluster, member.nickname != nil {
            cluster.publish(.left(member: id.rawValue, reason: shown))
            cluster.release(id)
        }
        // A connection that never joined keeps the name its row was given (`guest<id>`).
        history.connectionClosed(id, ConnectionSummary(
            nickname: member.nickname, closedAt: Timestamp.now(), reason: reason,
            linesIn: traffic.linesIn, linesOut: traffic.linesOut, bytesIn: traffic.bytesIn, bytesOut: traffic.bytesOut))
        logClosed(session, id, member: member, reason: reason, traffic: traffic)
    }

    // MARK: - Notice batching

    /// Whether a join or leave may be announced by name now; if not, it is counted for the next batched line
    /// (see ``NoticeThrottle``).
    func takeNamedNotice(joined: Bool) -> Bool {
        switch notices.notice(joined: joined, rate: configuration.noticeRate, now: eventLoop.now) {
        case .named:
            return true
        case .counted(let startTimer):
            if startTimer { scheduleBatchedNotice() }
            return false
        }
    }

    private func scheduleBatchedNotice() {
        batchTimer = eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { self.announceBatch() }
    }

    /// The batched line for the last second; batching goes on while the storm lasts.
    private func announceBatch() {
        batchTimer = nil
        guard !isShuttingDown else { return }
        let (batch, continues) = notices.timerFired(rate: configuration.noticeRate, now: eventLoop.now)
        if let batch {
            broadcast(ChatText.batchedNotice(joined: batch.joined, left: batch.left, connected: connectedCount), except: nil)
        }
        if continues { scheduleBatchedNotice() }
    }

    // MARK: - Chat

    /// Sends `text` (one line, without CRLF) to every joined client except `sender`. Never flushes. The line
    /// is encoded once, into the tick's lines (``TickScheduler``); each recipient's output records where it is.
    func broadcast(_ text: String, except sender: (any ChatClient)?) {
        let range = tick.append(text)
        let lines = tick.lines
        let skip = sender.map(ObjectIdentifier.init)
        for member in members where ObjectIdentifier(member.client) != skip {
            let recipient = member.client
            if recipient.deliver(range, of: lines) { tick.markDirty(recipient) }
        }
        tick.charge(range.count * members.count)
        counters.deliveries += Int64(max(0, members.count - (skip == nil ? 0 : 1)))
    }

    /// Flushes and closes what this tick left now (see ``TickScheduler/flushAndClose()``).
    public func flushAndClose() { tick.flushAndClose() }

    // MARK: - Back-pressure

    /// What consumes chat lines after the fan-out and can fall behind it.
    public enum BehindSource: Hashable, Sendable {
        /// The history writer's queue (the database is up but slower than the chat).
        case history
        /// The other servers (this server's share of what may cross to them).
        case cluster
    }

    /// Whether some consumer of chat lines is behind: clients who say lines are being held back.
    public var isBehind: Bool { gate.isBehind }

    /// `source` fell behind (`true`) or caught up (`false`); see ``ProducerGate``.
    public func setBehind(_ source: BehindSource, _ behind: Bool) {
        eventLoop.preconditionInEventLoop()
        gate.setBehind(source, behind)
    }

    // MARK: - Limits and shutdown

    private func closeIdleSessions() {
        let cutoff = eventLoop.now - configuration.idleTimeout
        for session in sessions.values where session.lastActivity < cutoff {
            session.send(ChatText.idleTimeout)
            session.close(reason: "idle timeout")
        }
    }

    /// Tells every client the server is going down, closes them (recorded as `server shutdown`), and
    /// completes when all are closed.
    public func shutdown() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        isShuttingDown = true
        roster.isClosed = true
        idleSweep?.cancel()
        idleSweep = nil
        batchTimer?.cancel()
        batchTimer = nil
        moderation.pollTimer?.cancel()
        moderation.pollTimer = nil
        let everyone = Array(sessions.values)
        for session in everyone { session.send(ChatText.shuttingDown) }
        var futures = everyone.map { $0.close(reason: "server shutdown") }
        futures.append(visitors.stop())
        return EventLoopFuture.andAllComplete(futures, on: eventLoop)
    }
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension ChatHub: Sendable {}
