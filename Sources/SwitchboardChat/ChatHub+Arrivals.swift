import NIOCore
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardProtocol

/// Arrivals and departures: the hub drives a client's arrival through ``ChatClient`` (admit, record, a bounded
/// wait for the visitor number, welcome or refusal) and forgets it when it leaves. On the hub's loop.
extension ChatHub {
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

    /// The tick's fan-out budget for the room as it is now: the configured bytes per tick, or more in a big
    /// room (``ChatConfiguration/fanOutBytesPerRecipient`` for each member), where the tick's flush — one
    /// write per recipient — outweighs queuing a few more lines for each.
    func renewFanOutBudget() {
        let perRecipient = members.count.multipliedReportingOverflow(by: configuration.fanOutBytesPerRecipient)
        tick.budget = max(configuration.fanOutBytesPerTick, perRecipient.overflow ? .max : perRecipient.partialValue)
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
        renewFanOutBudget()
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
            renewFanOutBudget()
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
}
