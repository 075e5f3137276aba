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
/// without flushing; recipients are marked dirty and flushed once per event loop tick (``scheduleFlush()``
/// queues one task that runs after every socket the tick found readable has been read). So the lines of
/// every sender read in one tick, and every join or leave announced in it, cost one `writev` per
/// recipient, not one per line per recipient — on loopback each write syscall also runs the receiver's
/// TCP path, so this is the main cost of fan-out.
public final class ChatHub {
    public let eventLoop: any EventLoop
    public let configuration: ChatConfiguration
    let history: any ChatHistory
    let logger: Logger

    /// Connected sessions (joined or waiting for their visitor number), by key.
    private var sessions: [ConnectionKey: ChatSession] = [:]
    /// Joined sessions, for fan-out; a session knows its index (swap-remove on leave).
    private(set) var members: [ChatSession] = []
    /// Nickname key (ASCII lowercase) → session.
    private var nicknames: [String: ChatSession] = [:]
    private var addresses: [String: Int] = [:]
    private var dirty: [ChatSession] = []
    private var flushScheduled = false
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
        scheduleIdleSweep()
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
        var nickname = visitor.map { "guest\($0)" } ?? "guest-\(session.key.rawValue)"
        var suffix = 2
        while nicknames[Nickname.key(nickname)] != nil {
            nickname = (visitor.map { "guest\($0)" } ?? "guest-\(session.key.rawValue)") + "-\(suffix)"
            suffix += 1
        }
        session.nickname = nickname
        nicknames[Nickname.key(nickname)] = session
        session.memberIndex = members.count
        members.append(session)
        session.send(ChatText.welcome(nickname: nickname, connected: sessions.count, visitor: visitor))
        broadcast(ChatText.joined(nickname, connected: sessions.count), except: session)
        logger.debug("client joined", metadata: ["peer": "\(session.peer)", "nickname": "\(nickname)",
                                                "visitor": "\(visitor.map(String.init) ?? "unknown")"])
    }

    /// Forgets a session that closed, tells the others, and records how it ended.
    func leave(_ session: ChatSession, reason: String) {
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
            if !isShuttingDown {
                broadcast(ChatText.left(session.nickname, reason: reason, connected: sessions.count), except: session)
            }
        }
        history.connectionClosed(session.key, session.summary(reason: reason))
        logger.debug("client left", metadata: ["peer": "\(session.peer)", "nickname": "\(session.nickname)", "reason": "\(reason)"])
    }

    // MARK: - Chat

    /// Sends `text` (one line, without CRLF) to every joined client except `sender`.
    func broadcast(_ text: String, except sender: ChatSession?) {
        let buffer = ChatSession.encode(text)
        for member in members where member !== sender {
            member.deliver(buffer)
        }
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
        let names = members.map(\.nickname).sorted { Nickname.key($0) < Nickname.key($1) }
        return ChatText.who(Array(names.prefix(configuration.maximumWhoNames)), total: names.count)
    }

    /// `/count`.
    func countLine() -> String { ChatText.count(connected: sessions.count, visits: totalVisits) }

    /// Whether someone with this nickname (any case) is online now; gives their spelling.
    func onlineNickname(_ nickname: String) -> String? { nicknames[Nickname.key(nickname)]?.nickname }

    // MARK: - Flushing

    /// Remembers that `session` has unflushed lines (called once per tick per client, by its first line);
    /// the first client in a tick schedules the tick's flush.
    func markDirty(_ session: ChatSession) {
        dirty.append(session)
        scheduleFlush()
    }

    /// Flushes every written-to client once, at the end of this event loop tick.
    private func scheduleFlush() {
        guard !dirty.isEmpty, !flushScheduled else { return }
        flushScheduled = true
        eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.flushPendingWrites()
        }
    }

    /// Flushes every client written to since the last flush, now.
    public func flushPendingWrites() {
        guard !dirty.isEmpty else { return }
        let toFlush = dirty
        dirty.removeAll(keepingCapacity: true)
        for session in toFlush { session.flush() }
    }

    // MARK: - Limits and shutdown

    private func closeIdleSessions() {
        let cutoff = eventLoop.now - configuration.idleTimeout
        for session in sessions.values where session.lastActivity < cutoff {
            session.close(reason: "idle timeout")
        }
        flushPendingWrites()
    }

    /// Tells every client the server is going down, closes them (recorded as `server shutdown`), and
    /// completes when all are closed.
    public func shutdown() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        isShuttingDown = true
        idleSweep?.cancel()
        idleSweep = nil
        let closing = Array(sessions.values)
        for session in closing { session.send(ChatText.shuttingDown) }
        flushPendingWrites()
        let futures = closing.map { $0.close(reason: "server shutdown") }
        return EventLoopFuture.andAllComplete(futures, on: eventLoop)
    }
}

// Confined to its event loop; see the type's documentation.
@available(*, unavailable)
extension ChatHub: Sendable {}
