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
///   task (``flushAndClose()``), which works through lists, so a mass leave is iteration, never recursion.
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

    /// How long parked sessions wait before they resume: long enough that the loop polls its sockets first.
    static let resumeDelay = TimeAmount.microseconds(200)

    /// Who is here and the rules for it (admission, names, counts): a value this hub owns.
    var roster: Roster
    /// Local sessions admitted or joined, by id.
    var sessions: [ConnectionKey: ChatSession] = [:]
    /// Joined local sessions, in fan-out order (swap-remove on leave; ``memberSlots`` knows each index).
    /// Unmanaged, so a broadcast does not retain and release every recipient: each is held strongly in
    /// ``sessions`` for as long as it is here, and nothing a broadcast calls can remove one (closes wait for
    /// the end of the tick).
    var members: [Unmanaged<ChatSession>] = []
    private var memberSlots: [ConnectionKey: Int] = [:]
    /// Visitor numbers reserved from the database, so a welcome needs no round trip.
    private var visitorNumbers: VisitorNumbers
    private var visitorWaiters: [VisitorWaiter] = []
    private var refillInFlight: EventLoopFuture<Void>?

    // End-of-tick work.
    /// This tick's broadcast lines, encoded once and shared by every recipient's output.
    private(set) var tickLines = TickLines()
    private var dirty: [ChatSession] = []
    private var closing: [ChatSession] = []
    private var tickTaskScheduled = false
    /// True while the hub flushes or closes channels: NIO may call back into sessions from in there.
    private(set) var isInCallout = false
    private var fanOutSpent = 0
    /// Sessions (and the cluster's inbox) waiting for budget, in the order they parked.
    private var parked: [any FanOutWorker] = []
    private var resumeScheduled = false
    private var isResuming = false

    // Join/leave notices: named below the rate, batched above it.
    private var notices: NoticeThrottle
    private var batchTimer: Scheduled<Void>?

    private var idleSweep: Scheduled<Void>?
    /// Cluster mode (several servers on one PostgreSQL database): the other servers, once started.
    var cluster: ChatCluster?
    /// Accepted connections ever (from the database at start-up, then counted here — in a cluster, the other
    /// servers' joins too, and their count from the database again at every heartbeat): `/count`'s total.
    public var totalVisits: Int64 { roster.totalVisits }
    /// How many of the other servers' visits this hub has heard of, ever: read by the heartbeat thread just
    /// before it reads the database's count (``visitsElsewhereCounted(_:tallyAtRead:)``), so what was heard
    /// since is added on top. Written on the loop only.
    let visitsHeardTally = NIOLockedValueBox<Int64>(0)
    /// Set once shutdown begins: no new clients, no leave notices.
    public private(set) var isShuttingDown = false

    // Back-pressure from what consumes chat lines (history, the other servers).
    /// The consumers behind now.
    private var behindSources: Set<BehindSource> = []
    /// Counts the times some consumer fell behind while none was: a session that says its share of lines
    /// during an episode says no more until the episode ends.
    private(set) var behindEpisode: UInt64 = 0
    /// Sessions holding a line until every consumer has caught up.
    private var waitingForRelief: [ChatSession] = []
    private var reliefScheduled = false
    /// Connections told their lines are not being saved (told once each).
    private var toldNotSaved: Set<ConnectionKey> = []

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
        self.visitorNumbers = VisitorNumbers(blockSize: configuration.visitorNumberBlock)
        self.logger = logger
        self.notices = NoticeThrottle(now: eventLoop.now)
        history.delegate = self
        scheduleIdleSweep()
        refillVisitorNumbersIfNeeded()
    }

    /// Clients in the room (welcomed), on every server of the cluster: the count every notice and `/count`
    /// shows.
    public var connectedCount: Int { roster.joinedCount }

    /// What the chat has done, for the metrics (issue 25); sessions add to it too.
    public internal(set) var counters = ChatCounters()

    /// ``counters`` with ``ChatCounters/connected`` filled in: this server's joined clients by transport.
    public func countersNow() -> ChatCounters {
        var now = counters
        for member in members {
            member._withUnsafeGuaranteedRef { now.connected[$0.transport.name, default: 0] += 1 }
        }
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

    /// Admits a new connection (its id) or refuses it, recording the refusal unless `recordingRefusal` is
    /// false (a connection behind TLS or a proxy is recorded once it is through: ``recordRefusal(_:_:)``);
    /// the session then says why and closes.
    func admit(_ session: ChatSession, recordingRefusal: Bool = true) -> Result<ConnectionKey, Roster.Refusal> {
        eventLoop.preconditionInEventLoop()
        let result = roster.admit(address: session.address)
        switch result {
        case .success(let id):
            sessions[id] = session
            if sessions.count > sessionPeak { sessionPeak = sessions.count }
            counters.accepted[session.transport.name, default: 0] += 1
        case .failure(let refusal):
            counters.refused[refusal == .serverFull ? "server_full" : "too_many_from_address", default: 0] += 1
            if recordingRefusal { recordRefusal(session, refusal) }
        }
        return result
    }

    /// Logs and records a refused connection (a row with its own visitor number).
    func recordRefusal(_ session: ChatSession, _ refusal: Roster.Refusal) {
        logger.notice("connection refused", metadata: ["peer": "\(session.peer)", "reason": "\(refusal.recordedReason)"])
        history.connectionRefused(
            visitor: takeVisitorNumber(), peer: session.peer, reason: refusal.recordedReason, at: Timestamp.now())
    }

    /// Behind a proxy: the PROXY header named the client at `session.address`; it now counts against that
    /// address's limit, or is refused (then ``withdraw(_:_:)`` it and ``recordRefusal(_:_:)``).
    func readdress(_ session: ChatSession, _ id: ConnectionKey) -> Result<Void, Roster.Refusal> {
        eventLoop.preconditionInEventLoop()
        guard sessions[id] === session, let address = session.address else { return .success(()) }
        return roster.setAddress(id, to: address)
    }

    /// Forgets an admitted connection that never reached the chat (no row, no notice, no visit): its TLS
    /// handshake or PROXY header failed, or it was refused once its address was known.
    func withdraw(_ session: ChatSession, _ id: ConnectionKey) {
        eventLoop.preconditionInEventLoop()
        guard sessions[id] === session else { return }
        sessions[id] = nil
        roster.withdraw(id)
    }

    /// Records an admitted connection; the future gives its visitor number (its row id) — at once when a
    /// reserved number is in hand; when the next block is on its way, as soon as it lands (so numbers keep
    /// the order people arrived in); else when the row is written (the database reserves one then).
    func recordOpened(_ id: ConnectionKey, peer: String) -> VisitorNumber {
        let time = Timestamp.now()
        if let number = takeVisitorNumber() {
            _ = history.connectionOpened(id, visitor: number, peer: peer, nickname: nil, at: time)
            return .now(number)
        }
        if visitorNumbers.isRefilling {
            let promise = eventLoop.makePromise(of: Int64.self)
            visitorWaiters.append(VisitorWaiter(id: id, peer: peer, at: time, promise: promise))
            return .later(promise.futureResult)
        }
        return .later(history.connectionOpened(id, visitor: nil, peer: peer, nickname: nil, at: time))
    }

    /// A newcomer's visitor number: in hand, or to come.
    enum VisitorNumber {
        case now(Int64)
        case later(EventLoopFuture<Int64>)
    }

    /// A connection waiting for the block of visitor numbers on its way.
    private struct VisitorWaiter {
        let id: ConnectionKey
        let peer: String
        let at: Timestamp
        let promise: EventLoopPromise<Int64>
    }

    /// Records the waiting connections' rows, in arrival order: with numbers from the block that just
    /// landed, or (none landed, or it ran out) numbers the database reserves as it writes them. `only`: just
    /// that one (it is leaving: its row must be recorded before it is closed).
    private func settleVisitorWaiters(only: ConnectionKey? = nil) {
        var settling: [VisitorWaiter] = []
        if let only {
            guard let index = visitorWaiters.firstIndex(where: { $0.id == only }) else { return }
            settling.append(visitorWaiters.remove(at: index))
        } else {
            settling = visitorWaiters
            visitorWaiters.removeAll()
        }
        for waiter in settling {
            if only == nil, let number = visitorNumbers.take() {
                _ = history.connectionOpened(waiter.id, visitor: number, peer: waiter.peer, nickname: nil, at: waiter.at)
                waiter.promise.succeed(number)
            } else {
                waiter.promise.completeWith(
                    history.connectionOpened(waiter.id, visitor: nil, peer: waiter.peer, nickname: nil, at: waiter.at))
            }
        }
        if only == nil { refillVisitorNumbersIfNeeded() }
    }

    private func takeVisitorNumber() -> Int64? {
        defer { refillVisitorNumbersIfNeeded() }
        return visitorNumbers.take()
    }

    /// Asks the database for the next block of visitor numbers when half of one is left. The future
    /// completes when the block has landed (or the database said no).
    @discardableResult
    func refillVisitorNumbersIfNeeded() -> EventLoopFuture<Void> {
        guard !isShuttingDown, visitorNumbers.needsRefill(now: eventLoop.now) else {
            return eventLoop.makeSucceededVoidFuture()
        }
        visitorNumbers.refillStarted()
        let refill = history.reserveVisitorNumbers(count: visitorNumbers.blockSize).assumeIsolated().map { block in
            self.visitorNumbers.refilled(block)
            self.settleVisitorWaiters()
        }.flatMapErrorThrowing { error in
            self.visitorNumbers.refillFailed(now: self.eventLoop.now)
            self.logger.debug("cannot reserve visitor numbers", metadata: ["error": "\(error)"])
            self.settleVisitorWaiters()
        }.nonisolated()
        refillInFlight = refill
        return refill
    }

    /// Completes when the block of visitor numbers on its way (if any) has landed: the server waits for
    /// the first one before it listens, so the first welcomes need no round trip either.
    public func visitorNumbersReady() -> EventLoopFuture<Void> {
        guard visitorNumbers.isRefilling, let refillInFlight else { return eventLoop.makeSucceededVoidFuture() }
        return refillInFlight
    }

    /// Gives an admitted session its name and welcome once the visitor number is known (or not, after the
    /// configured wait), and tells everyone else.
    func join(_ session: ChatSession, _ id: ConnectionKey, visitor: Int64?) {
        eventLoop.preconditionInEventLoop()
        let now = Timestamp.now().microsecondsSinceEpoch
        guard sessions[id] === session, let nickname = roster.join(id, visitor: visitor, at: now) else { return }
        cluster?.publish(.joined(member: id.rawValue, visitor: visitor ?? 0, claimedAt: now, nickname: nickname))
        memberSlots[id] = members.count
        members.append(Unmanaged.passUnretained(session))
        session.send(ChatText.welcome(nickname: nickname, connected: connectedCount, visitor: visitor))
        if takeNamedNotice(joined: true) {
            broadcast(ChatText.joined(nickname, connected: connectedCount), except: session)
        }
        logAccepted(session, id, nickname: nickname, visitor: visitor)
    }

    /// Forgets a session that closed, tells the others (`shownAs` is the reason in the notice), and records
    /// how it ended (`reason`, and the session's traffic counters).
    func leave(_ session: ChatSession, _ id: ConnectionKey, reason: String, shownAs shown: String, traffic: Traffic) {
        eventLoop.preconditionInEventLoop()
        guard sessions[id] === session, let member = roster.leave(id) else { return }
        sessions[id] = nil
        counters.closed[ChatCounters.label(forReason: reason), default: 0] += 1
        settleVisitorWaiters(only: id)  // its row is recorded before it is closed
        if let slot = memberSlots.removeValue(forKey: id) {
            let last = members.removeLast()
            if slot < members.count {
                members[slot] = last
                last._withUnsafeGuaranteedRef { memberSlots[$0.id!] = slot }
            }
        }
        if let nickname = member.nickname, !isShuttingDown, takeNamedNotice(joined: false) {
            broadcast(ChatText.left(nickname, reason: shown, connected: connectedCount), except: session)
        }
        toldNotSaved.remove(id)
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
    /// is encoded once, into ``tickLines``; each recipient's output records where it is.
    func broadcast(_ text: String, except sender: ChatSession?) {
        let range = tickLines.append(text)
        let tick = tickLines
        let skip = sender.map { Unmanaged.passUnretained($0).toOpaque() }
        for member in members where member.toOpaque() != skip {
            member._withUnsafeGuaranteedRef { recipient in
                if recipient.deliver(range, of: tick) { dirty.append(recipient) }
            }
        }
        fanOutSpent += range.count * members.count
        counters.deliveries += Int64(max(0, members.count - (skip == nil ? 0 : 1)))
        // The tick task also resets ``tickLines``, so it is scheduled even when nobody was sent the line.
        scheduleTickTask()
    }

    /// Carries out one line from a joined session: says it, or runs its command from ``ChatCommands/table``.
    /// The hub is the only user of history, reads included.
    func perform(_ line: ChatLine, from session: ChatSession, _ id: ConnectionKey) {
        guard let nickname = roster.nickname(of: id) else { return }
        switch line {
        case .empty:
            break
        case .say(let text):
            say(session, id, nickname, text, kind: .say)
        case .command(let name, let typed, let argument):
            guard let command = ChatCommands.byName[name] else { return session.send(ChatText.unknownCommand(typed)) }
            command.run(ChatCommandContext(
                hub: self, session: session, id: id, nickname: nickname, argument: argument, command: command))
        }
    }

    /// `/nick`: here, or in cluster mode as the database decides.
    func rename(_ session: ChatSession, _ id: ConnectionKey, to name: String) {
        if let cluster { return clusterRename(session, id, to: name, cluster) }
        switch roster.rename(id, to: name) {
        case .success(let old): broadcast(ChatText.renamed(old, name), except: nil)
        case .failure(.invalid(let problem)): session.send(ChatText.invalidNickname(problem))
        case .failure(.alreadyNamed(let name)): session.send(ChatText.alreadyNamed(name))
        case .failure(.taken(let name)): session.send(ChatText.nicknameTaken(name))
        }
    }

    /// `/who`.
    func who(_ session: ChatSession) {
        charge(roster.joinedCount * 16)  // sorting every name is work too
        session.send(ChatText.who(roster.sortedNicknames(limit: configuration.maximumWhoNames), total: roster.joinedCount))
    }

    /// `/msg`: to a member here, or on another server.
    func privateMessage(from session: ChatSession, _ id: ConnectionKey, _ nickname: String, to target: String, _ text: String) {
        if let cluster, let recipient = roster.remoteMember(named: target) {
            cluster.publish(.privateMessage(from: id.rawValue, toServer: recipient.id.server, to: recipient.id.member, text: text))
            return session.send(ChatText.privateSent(to: recipient.nickname, text))
        }
        guard let recipient = roster.member(named: target), let recipientNickname = recipient.nickname,
            let other = sessions[recipient.id]
        else { return session.send(ChatText.noSuchNick(target)) }
        other.send(ChatText.privateReceived(from: nickname, text))
        session.send(ChatText.privateSent(to: recipientNickname, text))
    }

    /// `/history N`: the reply waits for the database, in order with the rest of the session's output.
    func recentHistory(_ count: Int, for session: ChatSession) {
        session.reply(history.recentMessages(limit: count).map { messages in
            messages.map(ChatText.historyLine) + [ChatText.endOfHistory]
        })
    }

    /// `/seen NAME`: online now, or the database's answer.
    func seen(_ name: String, for session: ChatSession) {
        if let online = roster.member(named: name)?.nickname ?? roster.remoteMember(named: name)?.nickname {
            return session.send(ChatText.online(online))
        }
        session.reply(history.lastSeen(nickname: name).map { seen in
            [seen.map { ChatText.seen($0.nickname, at: $0.at) } ?? ChatText.neverSeen(name)]
        })
    }

    func say(_ session: ChatSession, _ id: ConnectionKey, _ nickname: String, _ text: String, kind: MessageKind) {
        let line = kind == .say ? ChatText.say(nickname, text) : ChatText.me(nickname, text)
        broadcast(line, except: session)
        history.messageSaid(id, nickname: nickname, kind: kind, body: text, at: Timestamp.now())
        cluster?.publish(kind == .say ? .said(member: id.rawValue, text: text) : .acted(member: id.rawValue, text: text))
    }

    // MARK: - The end of the tick: flushes, closes, and the fan-out budget

    /// Whether a session may work off input now: this tick's fan-out budget has room, and no session that
    /// parked earlier is waiting for its turn (they go first, in the order they parked, so under a flood
    /// every client gets its share instead of the ones whose reads come first taking every budget).
    var mayWork: Bool {
        fanOutSpent < configuration.fanOutBytesPerTick && (parked.isEmpty || isResuming)
    }

    /// Charges `bytes` of output work to this tick's budget.
    func charge(_ bytes: Int) { fanOutSpent += bytes }

    /// Remembers that `session` has unflushed lines (called once per tick per client, by its first line).
    func markDirty(_ session: ChatSession) {
        dirty.append(session)
        scheduleTickTask()
    }

    /// Closes `session`'s channel at the end of this tick, after flushing it.
    func scheduleClose(_ session: ChatSession) {
        closing.append(session)
        scheduleTickTask()
    }

    /// Parks `worker` (a session, or the cluster's inbox) until the fan-out budget is renewed; it resumes with
    /// ``FanOutWorker/drain()``.
    func park(_ worker: any FanOutWorker) {
        guard !worker.isParked else { return }
        worker.isParked = true
        parked.append(worker)
        scheduleTickTask()
    }

    func scheduleTickTask() {
        guard !tickTaskScheduled else { return }
        tickTaskScheduled = true
        eventLoop.assumeIsolated().execute {
            self.tickTaskScheduled = false
            self.flushAndClose()
        }
    }

    /// Flushes every client written to since the last flush, closes those that asked to close (and those
    /// whose send queue stays over `--max-sendq`), renews the fan-out budget and resumes parked sessions.
    /// Runs as its own task, never inside a fan-out; whatever NIO calls back from in here (a close, a read)
    /// only queues more work for the next round.
    public func flushAndClose() {
        eventLoop.preconditionInEventLoop()
        guard !isInCallout else { return }
        if let cluster, cluster.hasOutgoing { cluster.flush() }
        isInCallout = true
        while !dirty.isEmpty || !closing.isEmpty {
            let toFlush = dirty
            dirty.removeAll(keepingCapacity: true)
            for session in toFlush where !session.flush() {
                counters.sendQueueDisconnects += 1
                session.close(reason: "send queue exceeded")
            }
            let toClose = closing
            closing.removeAll(keepingCapacity: true)
            for session in toClose { session.performClose() }
        }
        isInCallout = false
        // Every output that took a range of this tick's lines was in `dirty` and has taken it.
        tickLines.reset()
        fanOutSpent = 0
        if !parked.isEmpty && !resumeScheduled {
            resumeScheduled = true
            eventLoop.assumeIsolated().scheduleTask(in: ChatHub.resumeDelay) { self.resumeParked() }
        }
    }

    /// Gives parked sessions their turn, oldest first, while the budget lasts. One that runs out parks
    /// again at the back; those that got no turn keep their place at the front.
    private func resumeParked() {
        resumeScheduled = false
        let resuming = parked
        parked.removeAll(keepingCapacity: true)
        isResuming = true
        var index = 0
        while index < resuming.count && fanOutSpent < configuration.fanOutBytesPerTick {
            resuming[index].isParked = false
            resuming[index].drain()
            index += 1
        }
        isResuming = false
        if index < resuming.count { parked.insert(contentsOf: resuming[index...], at: 0) }
        if !parked.isEmpty { scheduleTickTask() }
    }

    // MARK: - Back-pressure

    /// What consumes chat lines after the fan-out and can fall behind it.
    public enum BehindSource: Hashable, Sendable {
        /// The history writer's queue (the database is up but slower than the chat).
        case history
        /// The other servers (this server's share of what may cross to them).
        case cluster
    }

    /// Whether some consumer of chat lines is behind: clients who say lines are being held back.
    public var isBehind: Bool { !behindSources.isEmpty }

    /// `source` fell behind (`true`) or caught up (`false`). While any source is behind, a client that has
    /// said ``ChatSession/linesPerBehindEpisode`` lines since it fell behind says no more until every source
    /// has caught up: its input waits (its reads are held, so TCP pushes back on it) while everyone else
    /// chats on. Nothing is dropped.
    public func setBehind(_ source: BehindSource, _ behind: Bool) {
        eventLoop.preconditionInEventLoop()
        let wasBehind = isBehind
        if behind { behindSources.insert(source) } else { behindSources.remove(source) }
        if !wasBehind && isBehind { behindEpisode &+= 1 }
        if wasBehind && !isBehind && !waitingForRelief.isEmpty && !reliefScheduled {
            // Not from inside the caller (a writer's callback): the sessions drain in a task of their own.
            reliefScheduled = true
            eventLoop.assumeIsolated().execute { self.releaseWaiting() }
        }
    }

    /// `session` holds its next line until every consumer has caught up (``setBehind(_:_:)``).
    func waitForRelief(_ session: ChatSession) {
        waitingForRelief.append(session)
    }

    private func releaseWaiting() {
        reliefScheduled = false
        guard !isBehind else { return }  // behind again already: they wait for the next relief
        let waiting = waitingForRelief
        waitingForRelief.removeAll()
        for session in waiting { session.relieved() }
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
        let everyone = Array(sessions.values)
        for session in everyone { session.send(ChatText.shuttingDown) }
        var futures = everyone.map { $0.close(reason: "server shutdown") }
        settleVisitorWaiters()
        if let unused = visitorNumbers.takeUnused() {
            // So the next start goes on from here rather than skipping the rest of the block.
            futures.append(history.returnVisitorNumbers(unused).recover { _ in })
        }
        return EventLoopFuture.andAllComplete(futures, on: eventLoop)
    }
}

extension ChatHub: HistoryWriterDelegate {
    public func historyWriter(isBehind: Bool) {
        setBehind(.history, isBehind)
    }

    public func historyWriter(couldNotStoreLinesOf keys: Set<ConnectionKey>) {
        for key in keys where !toldNotSaved.contains(key) {
            guard let session = sessions[key] else { continue }
            toldNotSaved.insert(key)
            session.send(ChatText.historyNotSaved)
        }
    }
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension ChatHub: Sendable {}

extension Roster.Refusal {
    /// What the refused client is told.
    var line: String { self == .serverFull ? ChatText.serverFull : ChatText.tooManyFromAddress }
    /// The history row's `close_reason`.
    var recordedReason: String {
        self == .serverFull ? "refused: server full" : "refused: too many connections from your address"
    }
}
