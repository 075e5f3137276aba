import Logging
import NIOCore
import SwitchboardProtocol
import SwitchboardStorage

/// Twisted's `Factory` for the chat: tracks every client, owns nicknames and counters, fans lines out.
///
/// Ownership: all state lives on ``eventLoop``, the single loop every client channel is registered on, so
/// no locks are needed and a chat line never hops threads. Every method must be called on that loop.
///
/// A broadcast encodes its line once into one `ByteBuffer` and writes that same buffer to each recipient
/// without flushing; recipients are marked dirty and flushed once per event loop tick (one task that runs
/// after every socket the tick found readable has been read). So the lines of every sender read in one
/// tick, and every join or leave announced in it, cost one `writev` per recipient, not one per line per
/// recipient — on loopback each write syscall also runs the receiver's TCP path, so this is the main cost
/// of fan-out.
///
/// The rules that keep a hostile client from crashing or stalling the server (DESIGN.md, "Design rules
/// learned the hard way"):
/// - Nothing inside a fan-out flushes or closes a channel. Flushes and closes wait for the end-of-tick
///   task (``flushAndClose()``), which works through lists, so a mass leave is iteration, never recursion.
/// - Work per tick is bounded: every line queued for a client is charged to a fan-out budget
///   (``ChatConfiguration/fanOutBytesPerTick``); a session that finds it spent parks and is resumed after the flush, once the
///   loop has served I/O and timers.
/// - Join and leave notices above ``ChatConfiguration/noticeRate`` a second are batched into one line a
///   second (`* 37 joined, 12 left (10025 clients connected)`), so a mass join or leave costs O(N) lines,
///   not N²/2.
public final class ChatHub {
    public let eventLoop: any EventLoop
    public let configuration: ChatConfiguration
    let history: any ChatHistory
    let logger: Logger

    /// How long parked sessions wait before they resume: long enough that the loop polls its sockets first.
    static let resumeDelay = TimeAmount.microseconds(200)

    /// Connected sessions (joined or waiting for their visitor number), by key.
    private var sessions: [ConnectionKey: ChatSession] = [:]
    /// Joined sessions, for fan-out; a session knows its index (swap-remove on leave).
    private(set) var members: [ChatSession] = []
    /// Nickname key (ASCII lowercase) → session.
    private var nicknames: [String: ChatSession] = [:]
    private var addresses: [String: Int] = [:]

    // End-of-tick work.
    private var dirty: [ChatSession] = []
    private var closing: [ChatSession] = []
    private var tickTaskScheduled = false
    /// True while the hub flushes or closes channels: NIO may call back into sessions from in there.
    private(set) var isInCallout = false
    private var fanOutSpent = 0
    private var parked: [ChatSession] = []
    private var resumeScheduled = false
    private var isResuming = false

    // Join/leave notices: named below the rate, batched above it.
    private var noticeWindowStart: NIODeadline
    private var noticesInWindow = 0
    private var batchedJoins = 0
    private var batchedLeaves = 0
    private var batchTimer: Scheduled<Void>?

    private var nextKey: UInt64 = 1
    private var idleSweep: Scheduled<Void>?
    /// Accepted connections ever (from the database at start-up, then counted here): `/count`'s total.
    public private(set) var totalVisits: Int64
    /// Set once shutdown begins: no new clients, no leave notices.
    public private(set) var isShuttingDown = false

    /// Creates a hub on `eventLoop`. `totalVisits` seeds `/count` (read from the database at start-up).
    public init(
        eventLoop: any EventLoop, history: any ChatHistory, configuration: ChatConfiguration = ChatConfiguration(),
        totalVisits: Int64 = 0, logger: Logger
    ) {
        self.eventLoop = eventLoop
        self.history = history
        self.configuration = configuration
        self.totalVisits = totalVisits
        self.logger = logger
        self.noticeWindowStart = eventLoop.now
        scheduleIdleSweep()
    }

    /// Clients in the room (welcomed): the count every notice and `/count` shows.
    public var connectedCount: Int { members.count }

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

    /// Why a connection was turned away.
    enum Refusal {
        case serverFull
        case tooManyFromAddress

        var line: String { self == .serverFull ? ChatText.serverFull : ChatText.tooManyFromAddress }
        var recordedReason: String {
            self == .serverFull ? "refused: server full" : "refused: too many connections from your address"
        }
    }

    /// Admits a new connection or refuses it (the session then says why and closes).
    func admit(_ session: ChatSession) -> Refusal? {
        eventLoop.preconditionInEventLoop()
        if isShuttingDown || sessions.count >= configuration.maximumClients {
            refuse(session, .serverFull)
            return .serverFull
        }
        let limit = configuration.maximumClientsPerAddress
        if limit > 0, let address = session.address, addresses[address, default: 0] >= limit {
            refuse(session, .tooManyFromAddress)
            return .tooManyFromAddress
        }
        session.key = ConnectionKey(nextKey)
        nextKey += 1
        sessions[session.key] = session
        if let address = session.address { addresses[address, default: 0] += 1 }
        totalVisits += 1
        return nil
    }

    private func refuse(_ session: ChatSession, _ refusal: Refusal) {
        logger.notice("connection refused", metadata: ["peer": "\(session.peer)", "reason": "\(refusal.recordedReason)"])
        history.connectionRefused(peer: session.peer, reason: refusal.recordedReason, at: Timestamp.now())
    }

    /// Gives an admitted session its name and welcome once the visitor number is known (or not, after the
    /// configured wait), and tells everyone else.
    func join(_ session: ChatSession, visitor: Int64?) {
        eventLoop.preconditionInEventLoop()
        guard sessions[session.key] === session else { return }  // left while waiting
        let base = visitor.map { "guest\($0)" } ?? "guest-\(session.key.rawValue)"
        var nickname = base
        var suffix = 2
        while nicknames[Nickname.key(nickname)] != nil {
            nickname = base + "-\(suffix)"
            suffix += 1
        }
        session.nickname = nickname
        nicknames[Nickname.key(nickname)] = session
        session.memberIndex = members.count
        members.append(session)
        session.send(ChatText.welcome(nickname: nickname, connected: connectedCount, visitor: visitor))
        if takeNamedNotice(joined: true) {
            broadcast(ChatText.joined(nickname, connected: connectedCount), except: session)
        }
        logger.debug("client joined", metadata: ["peer": "\(session.peer)", "nickname": "\(nickname)",
                                                "visitor": "\(visitor.map(String.init) ?? "unknown")"])
    }

    /// Forgets a session that closed, tells the others (`shownAs` is the reason in the notice), and records
    /// how it ended (`reason`).
    func leave(_ session: ChatSession, reason: String, shownAs shown: String) {
        eventLoop.preconditionInEventLoop()
        guard sessions.removeValue(forKey: session.key) != nil else { return }
        if let address = session.address {
            let remaining = addresses[address, default: 1] - 1
            addresses[address] = remaining > 0 ? remaining : nil
        }
        if let index = session.memberIndex {
            let last = members.removeLast()
            if index < members.count {
                members[index] = last
                last.memberIndex = index
            }
            session.memberIndex = nil
            nicknames[Nickname.key(session.nickname)] = nil
            if !isShuttingDown && takeNamedNotice(joined: false) {
                broadcast(ChatText.left(session.nickname, reason: shown, connected: connectedCount), except: session)
            }
        }
        history.connectionClosed(session.key, session.summary(reason: reason))
        logger.debug("client left", metadata: ["peer": "\(session.peer)", "nickname": "\(session.nickname)", "reason": "\(reason)"])
    }

    // MARK: - Notice batching

    /// Whether a join or leave may be announced by name now; if not, it is counted for the next batched
    /// line. Below ``ChatConfiguration/noticeRate`` notices in a one-second window every one is named;
    /// past it the hub batches until a whole second passes with no more than the rate.
    private func takeNamedNotice(joined: Bool) -> Bool {
        let rate = configuration.noticeRate
        guard rate > 0 else { return true }
        if batchTimer == nil {
            let now = eventLoop.now
            if now - noticeWindowStart >= .seconds(1) {
                noticeWindowStart = now
                noticesInWindow = 0
            }
            if noticesInWindow < rate {
                noticesInWindow += 1
                return true
            }
            batchTimer = eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { self.announceBatch() }
            noticesInWindow = 0
        }
        noticesInWindow += 1
        if joined { batchedJoins += 1 } else { batchedLeaves += 1 }
        return false
    }

    /// The batched line for the last second; keeps batching while the storm lasts.
    private func announceBatch() {
        batchTimer = nil
        guard !isShuttingDown else { return }
        if batchedJoins > 0 || batchedLeaves > 0 {
            broadcast(ChatText.batchedNotice(joined: batchedJoins, left: batchedLeaves, connected: connectedCount),
                      except: nil)
        }
        let stormContinues = noticesInWindow > configuration.noticeRate
        batchedJoins = 0
        batchedLeaves = 0
        noticesInWindow = 0
        noticeWindowStart = eventLoop.now
        if stormContinues {
            batchTimer = eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { self.announceBatch() }
        }
    }

    // MARK: - Chat

    /// Sends `text` (one line, without CRLF) to every joined client except `sender`. Never flushes.
    func broadcast(_ text: String, except sender: ChatSession?) {
        let buffer = ChatSession.encode(text)
        var newlyDirty = false
        for member in members where member !== sender {
            if member.deliver(buffer) {
                dirty.append(member)
                newlyDirty = true
            }
        }
        fanOutSpent += buffer.readableBytes * members.count
        if newlyDirty { scheduleTickTask() }
    }

    /// A public line from `session`.
    func say(_ session: ChatSession, _ text: String, kind: MessageKind) {
        let line = kind == .say ? ChatText.say(session.nickname, text) : ChatText.me(session.nickname, text)
        broadcast(line, except: session)
        history.messageSaid(session.key, nickname: session.nickname, kind: kind, body: text, at: Timestamp.now())
    }

    /// A private message; returns `false` when nobody has that nickname.
    func privateMessage(from session: ChatSession, to nickname: String, _ text: String) -> Bool {
        guard let target = nicknames[Nickname.key(nickname)] else { return false }
        target.send(ChatText.privateReceived(from: session.nickname, text))
        session.send(ChatText.privateSent(to: target.nickname, text))
        return true
    }

    /// Renames `session`, or returns the error line to show it.
    func rename(_ session: ChatSession, to newName: String) -> String? {
        if let problem = Nickname.problem(with: newName) { return ChatText.invalidNickname(problem) }
        if newName == session.nickname { return ChatText.alreadyNamed(newName) }
        let newKey = Nickname.key(newName)
        if let holder = nicknames[newKey], holder !== session { return ChatText.nicknameTaken(newName) }
        let old = session.nickname
        nicknames[Nickname.key(old)] = nil
        nicknames[newKey] = session
        session.nickname = newName
        broadcast(ChatText.renamed(old, newName), except: nil)
        return nil
    }

    /// `/who`: joined nicknames, sorted ignoring case, at most ``ChatConfiguration/maximumWhoNames``.
    func whoLine() -> String {
        charge(members.count * 16)  // sorting every name is work too
        // The index's keys are the case-folded names already: sort those, not a fresh key per comparison.
        let names = nicknames.sorted { $0.key < $1.key }.prefix(configuration.maximumWhoNames).map(\.value.nickname)
        return ChatText.who(names, total: nicknames.count)
    }

    /// `/count`.
    func countLine() -> String { ChatText.count(connected: connectedCount, visits: totalVisits) }

    /// Whether someone with this nickname (any case) is online now; gives their spelling.
    func onlineNickname(_ nickname: String) -> String? { nicknames[Nickname.key(nickname)]?.nickname }

    // MARK: - The end of the tick: flushes, closes, and the fan-out budget

    /// Whether `session` may work off input now: this tick's fan-out budget has room, and no session that
    /// parked earlier is waiting for its turn (they go first, in the order they parked, so under a flood
    /// every client gets its share instead of the ones whose reads come first taking every budget).
    func mayWork(_ session: ChatSession) -> Bool {
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

    /// Parks `session` until the fan-out budget is renewed; it resumes with ``ChatSession/drain()``.
    func park(_ session: ChatSession) {
        guard !session.isParked else { return }
        session.isParked = true
        parked.append(session)
        scheduleTickTask()
    }

    private func scheduleTickTask() {
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
        isInCallout = true
        while !dirty.isEmpty || !closing.isEmpty {
            let toFlush = dirty
            dirty.removeAll(keepingCapacity: true)
            for session in toFlush where !session.flush() {
                session.close(reason: "send queue exceeded")
            }
            let toClose = closing
            closing.removeAll(keepingCapacity: true)
            for session in toClose { session.performClose() }
        }
        isInCallout = false
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
        idleSweep?.cancel()
        idleSweep = nil
        batchTimer?.cancel()
        batchTimer = nil
        let everyone = Array(sessions.values)
        for session in everyone { session.send(ChatText.shuttingDown) }
        let futures = everyone.map { $0.close(reason: "server shutdown") }
        return EventLoopFuture.andAllComplete(futures, on: eventLoop)
    }
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension ChatHub: Sendable {}
