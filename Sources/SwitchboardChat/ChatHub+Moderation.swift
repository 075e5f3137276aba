import Logging
import NIOCore
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardModeration
import SwitchboardProtocol

/// Operators, bans, mutes and the MOTD in the hub (reading them from the store: ChatHub+ModerationPolling.swift). Everything here runs on the hub's loop; the
/// store's futures complete there. What is enforced is ``ModerationState/snapshot``: this server's own
/// changes update it at once; every server (this one too) re-reads it when the database's
/// `moderation_version` changes, which it polls every ``ChatConfiguration/moderationPollInterval`` — so a ban
/// set on another server, or edited directly in the database, holds here within that interval plus a read.
extension ChatHub {
    /// The operator name admin-console clients act under (in messages and the moderation log).
    static let adminConsoleName = "admin"

    // MARK: - Checks the hub makes

    /// The refusal for a client at `address` when a ban holds for it now (a lookup, see ``BanList``).
    func banRefusal(address: String?) -> Roster.Refusal? {
        guard moderation.snapshot.bans.count > 0, let address,
            let socketAddress = try? SocketAddress(ipAddress: address, port: 0),
            let ban = moderation.snapshot.bans.ban(address: socketAddress, at: .now())
        else { return nil }
        return .banned(detail: ban.refusalDetail)
    }

    /// Whether `id` may use operator commands.
    func isOperator(_ id: ConnectionKey) -> Bool { moderation.operators[id] != nil }

    /// Whether `id` (named `nickname`) is muted now.
    func isMuted(_ id: ConnectionKey, _ nickname: String) -> Bool {
        // Every chat line asks: with no mutes at all, the answer costs two emptiness checks.
        if !moderation.mutedConnections.isEmpty, moderation.mutedConnections.contains(id) { return true }
        guard !moderation.snapshot.mutes.isEmpty, let mute = moderation.snapshot.mutes[Nickname.key(nickname)] else {
            return false
        }
        return mute.isActive(at: .now())
    }

    /// A muted client's line goes nowhere; it is told once, then sees what it would have seen anyway.
    func swallowMuted(_ session: any ChatClient, _ id: ConnectionKey) {
        if moderation.toldMuted.insert(id).inserted { session.send(ChatText.youAreMuted) }
    }

    /// After the welcome: the message of the day.
    func greet(_ session: any ChatClient) {
        if let motd = moderation.snapshot.motd { session.send(ChatText.motd(motd.body)) }
    }

    /// After the welcome and the MOTD: the last ``ChatConfiguration/historyOnJoin`` public lines, as `/history`
    /// shows them and ending in `* end of history`; nothing when there are none.
    ///
    /// From memory (``RecentLines``): the lines this hub relayed, after those the database held when the first
    /// replay read them. Until that read is back, a newcomer's replay waits for it and is sent when it
    /// arrives, not as a reply holding its place in the output: nothing the client is told meanwhile (a kick,
    /// `* server shutting down`) is held up behind it, and the block is marked by its timestamps and its
    /// last line. No replay when that read fails, nor while history is behind the chat (a flood: newcomers
    /// then add no reads).
    func replayHistory(to session: any ChatClient) {
        let count = configuration.historyOnJoin
        guard count > 0, let id = session.id else { return }
        let seeding: EventLoopFuture<Void>
        switch recentLines.state {
        case .seeded:
            return replay(recentLines.last(count), to: session)
        case .seeding:
            guard let read = recentLinesRead else { return }
            seeding = read
        case .unseeded:
            guard !isBehind else { return }
            seeding = seedRecentLines()
        }
        let joinedAt = Timestamp.now()
        seeding.assumeIsolated().whenSuccess {
            // Lines relayed since the join were sent to the newcomer live.
            let messages = self.recentLines.last(count).filter { $0.sentAt < joinedAt }
            guard self.sessions[id] === session, !self.moderation.expelled.contains(id) else { return }
            self.replay(messages, to: session)
        }
    }

    private func replay(_ messages: [StoredMessage], to session: any ChatClient) {
        guard !messages.isEmpty else { return }
        for message in messages { session.send(ChatText.historyLine(message)) }
        session.send(ChatText.endOfHistory)
    }

    /// Reads the last lines from the database into ``recentLines``; completes when they are there (fails when
    /// the read did: they stay unseeded).
    private func seedRecentLines() -> EventLoopFuture<Void> {
        let startedAt = Timestamp.now()
        recentLines.beginSeeding(at: startedAt)
        let seeded = eventLoop.makePromise(of: Void.self)
        history.recentMessages(limit: RecentLines.capacity).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let stored):
                self.recentLines.seed(stored, startedAt: startedAt)
                seeded.succeed(())
            case .failure(let error):
                self.recentLines.seedFailed(startedAt: startedAt)
                seeded.fail(error)
            }
        }
        recentLinesRead = seeded.futureResult
        return seeded.futureResult
    }

    /// Whose password guesses `session`'s count with, for the per-address throttle: its IPv4 address, or its
    /// IPv6 /64 (one subscriber holds all of it, as a ban by nickname assumes), else its peer (a Unix socket).
    static func guessingKey(_ session: any ChatClient) -> String {
        guard let address = session.address else { return session.peer }
        return (try? BanTarget(parsingAddress: address))?.description ?? address
    }

    /// Whether a transport keeps a password private: TLS, a Unix socket, or loopback.
    private func isPrivate(_ session: any ChatClient) -> Bool {
        if session.frontDoor.tls || session.address == nil { return true }
        guard let address = session.address else { return true }
        return address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }

    // MARK: - Commands

    /// `/oper NAME PASSWORD`.
    func oper(_ session: any ChatClient, _ id: ConnectionKey, name: String, password: String) {
        guard let store = moderationStore else { return session.send(ChatText.moderationUnavailable) }
        let peer = session.peer
        guard configuration.allowPlainOper || isPrivate(session) else {
            logger.notice("oper refused: plain connection", metadata: ["peer": "\(peer)", "operator": "\(name)"])
            return session.send(ChatText.operNeedsPrivacy)
        }
        let now = eventLoop.now
        let address = Self.guessingKey(session)
        let wait = [moderation.perConnection.wait(for: id, now: now), moderation.perAddress.wait(for: address, now: now)]
            .compactMap { $0 }.max()
        if let wait {
            logger.notice("oper throttled", metadata: ["peer": "\(peer)", "operator": "\(name)"])
            return session.send(ChatText.tooManyWrongPasswords(retryIn: wait))
        }
        moderation.perConnection.started(id)
        moderation.perAddress.started(address)
        answer(session, id, store.checkOperator(name: name, password: password).assumeIsolated().map { found -> [String] in
            // The address pays for a wrong guess even when its connection left before the answer.
            self.moderation.perAddress.finished(address, failed: found == nil, now: self.eventLoop.now)
            guard self.sessions[id] === session else { return [] }
            self.moderation.perConnection.finished(id, failed: found == nil, now: self.eventLoop.now)
            guard let found else {
                self.logger.notice("oper failed", metadata: ["peer": "\(peer)", "operator": "\(name)"])
                return [ChatText.operFailed]
            }
            self.moderation.perConnection.succeeded(id)
            self.moderation.operators[id] = found
            self.logger.notice("oper succeeded", metadata: ["peer": "\(peer)", "operator": "\(found)"])
            self.record(ModerationLogEntry(at: .now(), actor: found, action: "oper", target: self.roster.nickname(of: id) ?? ""))
            return [ChatText.nowOperator(found)]
        }.flatMapErrorThrowing { error in
            self.moderation.perAddress.finished(address, failed: false, now: self.eventLoop.now)
            self.moderation.perConnection.finished(id, failed: false, now: self.eventLoop.now)
            self.logger.warning("oper check failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
            return [ChatText.passwordCheckFailed(error)]
        }.nonisolated())
    }

    /// Sends what `lines` becomes as `session`'s reply (in its place in the output; after
    /// ``ChatConfiguration/historyReadWait``, that moderation is unavailable). Until it is there, `id`'s
    /// further input waits: its commands take effect in the order sent (a `/drop` after a `/register` sees
    /// the registration), and one client has one password check or change in flight at a time.
    func answer(_ session: any ChatClient, _ id: ConnectionKey, _ lines: EventLoopFuture<[String]>) {
        deciding.insert(id)
        let answered = lines.assumeIsolated().always { _ in
            self.deciding.remove(id)
            // After the reply has taken its lines (this runs before the reply's own callback): then the input.
            self.eventLoop.assumeIsolated().execute { session.drain() }
        }.nonisolated()
        session.reply(answered, unavailable: ChatText.moderationUnavailable)
    }

    /// `/kick NICK [REASON]`.
    func kick(_ session: any ChatClient, _ id: ConnectionKey, nickname: String, reason: String) {
        guard let actor = moderation.operators[id] else { return }
        guard let member = roster.member(named: nickname), let name = member.nickname, let target = sessions[member.id],
            !moderation.expelled.contains(member.id)
        else {
            if roster.remoteMember(named: nickname) != nil { return session.send(ChatText.onAnotherServer(nickname)) }
            return session.send(ChatText.noSuchNick(nickname))
        }
        moderation.expelled.insert(member.id)
        target.send(ChatText.kicked(by: actor, reason: reason))
        // After any reply it is owed (its history on join, a /history): the kick line waits behind those.
        target.closeWhenAnswered(
            reason: reason.isEmpty ? "kicked by \(actor)" : "kicked by \(actor): \(reason)",
            shownAs: reason.isEmpty ? "kicked" : "kicked: \(reason)")
        record(ModerationLogEntry(at: .now(), actor: actor, action: "kick", target: name, reason: reason))
        if target !== session { session.send(ChatText.didKick(name)) }
    }

    /// `/ban …` (see ``BanRequest``).
    func ban(_ session: any ChatClient, _ id: ConnectionKey, _ request: BanRequest) {
        guard let actor = moderation.operators[id], let store = moderationStore else {
            return session.send(ChatText.moderationUnavailable)
        }
        var targets: [BanTarget] = []
        switch request.subject {
        case .target(let target):
            targets.append(target)
        case .nickname(let nickname):
            if let member = roster.member(named: nickname), let address = member.address,
                let socketAddress = try? SocketAddress(ipAddress: address, port: 0),
                let target = BanTarget(client: socketAddress)
            {
                targets.append(target)
            } else if roster.remoteMember(named: nickname) != nil, !request.includesNickname {
                return session.send(ChatText.onAnotherServer(nickname))
            } else if !request.includesNickname {
                return session.send(ChatText.noAddressToBan(nickname))
            }
            if request.includesNickname { targets.append(.nickname(Nickname.key(nickname))) }
        }
        if let own = session.address, let ownAddress = try? SocketAddress(ipAddress: own, port: 0),
            let covering = targets.first(where: { $0.covers(ownAddress) })
        {
            return session.send(ChatText.refuseOwnAddress(covering))
        }
        let now = Timestamp.now()
        let expires = request.duration.map { Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch + $0.seconds * 1_000_000) }
        let bans = targets.map { Ban(target: $0, reason: request.reason, setBy: actor, setAt: now, expiresAt: expires) }
        let writes = bans.map { ban in
            store.setBan(ban, log: ModerationLogEntry(
                at: now, actor: actor, action: "ban", target: ban.target.description,
                reason: request.reason + (request.duration.map { " (\($0))" } ?? "")))
        }
        answer(session, id, EventLoopFuture.whenAllSucceed(writes, on: eventLoop).assumeIsolated().map { _ -> [String] in
            for ban in bans { self.moderation.snapshot.bans.insert(ban) }
            self.enforceBans()
            return bans.map { ChatText.didBan($0) }
        }.flatMapErrorThrowing { error in
            self.logger.warning("ban not stored", metadata: ["error": "\(error)"])
            return [ChatText.moderationUnavailable]
        }.nonisolated())
    }

    /// Closes every local client a ban now holds for (by address, or by its current name).
    func enforceBans() {
        let bans = moderation.snapshot.bans
        guard bans.count > 0 else { return }
        let now = Timestamp.now()
        for (id, session) in sessions where !moderation.expelled.contains(id) {
            guard let member = roster.members[id] else { continue }
            let address = member.address.flatMap { try? SocketAddress(ipAddress: $0, port: 0) }
            guard let ban = bans.ban(address: address, nickname: member.nickname, at: now) else { continue }
            moderation.expelled.insert(id)
            session.send(ChatText.youAreBanned(ban.refusalDetail))
            session.closeWhenAnswered(
                reason: ban.reason.isEmpty ? "banned" : "banned: \(ban.reason)",
                shownAs: ban.reason.isEmpty ? "banned" : "banned: \(ban.reason)")
        }
    }

    /// `/unban NICK|ADDRESS|CIDR` (a nickname lifts a `--nick` ban on that name).
    func unban(_ session: any ChatClient, _ id: ConnectionKey, _ text: String) {
        guard let actor = moderation.operators[id], let store = moderationStore else {
            return session.send(ChatText.moderationUnavailable)
        }
        let target: BanTarget
        if text.contains(where: { $0 == ":" || $0 == "." || $0 == "/" }) {
            do { target = try BanTarget(parsingAddress: text) } catch { return session.send("! \(error.message)") }
        } else {
            if let problem = Nickname.problem(with: text) { return session.send("! \(problem)") }
            target = .nickname(Nickname.key(text))
        }
        let entry = ModerationLogEntry(at: .now(), actor: actor, action: "unban", target: target.description)
        answer(session, id, store.removeBan(target, log: entry).assumeIsolated().map { removed -> [String] in
            guard removed else { return [ChatText.noSuchBan(target)] }
            self.moderation.snapshot.bans.remove(target)
            return [ChatText.didUnban(target)]
        }.flatMapErrorThrowing { _ in [ChatText.moderationUnavailable] }.nonisolated())
    }

    /// `/bans`: at most 50, newest first.
    func listBans(_ session: any ChatClient) {
        let now = Timestamp.now()
        let bans = moderation.snapshot.bans.all.filter { $0.isActive(at: now) }
        session.send(ChatText.banCount(bans.count))
        for ban in bans.prefix(50) { session.send(ChatText.banLine(ban)) }
        if bans.count > 50 { session.send("* … and \(bans.count - 50) more") }
    }

    /// `/mute NICK [DURATION]`.
    func mute(_ session: any ChatClient, _ id: ConnectionKey, nickname: String, duration: ModerationDuration?) {
        guard let actor = moderation.operators[id], let store = moderationStore else {
            return session.send(ChatText.moderationUnavailable)
        }
        let now = Timestamp.now()
        let expires = duration.map { Timestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch + $0.seconds * 1_000_000) }
        let name = roster.member(named: nickname)?.nickname ?? roster.remoteMember(named: nickname)?.nickname ?? nickname
        let mute = Mute(nickname: name, setBy: actor, setAt: now, expiresAt: expires)
        let entry = ModerationLogEntry(at: now, actor: actor, action: "mute", target: name, reason: duration.map(\.description) ?? "")
        answer(session, id, store.setMute(mute, log: entry).assumeIsolated().map { _ -> [String] in
            self.moderation.snapshot.mutes[Nickname.key(name)] = mute
            if let member = self.roster.member(named: name) { self.moderation.mutedConnections.insert(member.id) }
            return [ChatText.didMute(name, duration)]
        }.flatMapErrorThrowing { _ in [ChatText.moderationUnavailable] }.nonisolated())
    }

    /// `/unmute NICK`.
    func unmute(_ session: any ChatClient, _ id: ConnectionKey, nickname: String) {
        guard let actor = moderation.operators[id], let store = moderationStore else {
            return session.send(ChatText.moderationUnavailable)
        }
        let entry = ModerationLogEntry(at: .now(), actor: actor, action: "unmute", target: nickname)
        let member = roster.member(named: nickname)?.id
        answer(session, id, store.removeMute(nickname: nickname, log: entry).assumeIsolated().map { removed -> [String] in
            self.moderation.snapshot.mutes[Nickname.key(nickname)] = nil
            var wasMutedHere = false
            if let member {
                wasMutedHere = self.moderation.mutedConnections.remove(member) != nil
                self.moderation.toldMuted.remove(member)
            }
            return [removed || wasMutedHere ? ChatText.didUnmute(nickname) : ChatText.notMuted(nickname)]
        }.flatMapErrorThrowing { _ in [ChatText.moderationUnavailable] }.nonisolated())
    }

    /// `/whois NICK`: the address only for operators.
    func whois(_ session: any ChatClient, _ id: ConnectionKey, nickname: String) {
        if let member = roster.member(named: nickname), let name = member.nickname, let target = sessions[member.id] {
            let since = Timestamp(microsecondsSinceEpoch: Timestamp.now().microsecondsSinceEpoch
                - (eventLoop.now - target.acceptedAt).nanoseconds / 1_000)
            session.send(ChatText.whois(
                name, visitor: member.visitor, since: since, server: "this server",
                address: isOperator(id) ? target.peer : nil, isOperator: isOperator(member.id),
                muted: isMuted(member.id, name), identified: isIdentified(member.id)))
        } else if let remote = roster.remoteMember(named: nickname) {
            session.send(ChatText.whoisRemote(remote.nickname, server: remote.id.server))
        } else {
            session.send(ChatText.noSuchNick(nickname))
        }
    }

    /// `/announce TEXT`: to everyone on this server.
    func announce(_ session: any ChatClient, _ id: ConnectionKey, _ text: String) {
        guard let actor = moderation.operators[id] else { return }
        broadcast(ChatText.announcement(text, by: actor), except: nil)
        record(ModerationLogEntry(at: .now(), actor: actor, action: "announce", reason: text))
    }

    /// `/motd set TEXT` (`text` given) or `/motd clear`.
    func setMOTD(_ session: any ChatClient, _ id: ConnectionKey, _ text: String?) {
        guard let actor = moderation.operators[id], let store = moderationStore else {
            return session.send(ChatText.moderationUnavailable)
        }
        let now = Timestamp.now()
        let motd = text.map { MessageOfTheDay(body: $0, setBy: actor, setAt: now) }
        let entry = ModerationLogEntry(at: now, actor: actor, action: text == nil ? "motd clear" : "motd set", reason: text ?? "")
        answer(session, id, store.setMOTD(motd, log: entry).assumeIsolated().map { _ -> [String] in
            self.moderation.snapshot.motd = motd
            return [motd == nil ? ChatText.motdCleared : ChatText.motdSet]
        }.flatMapErrorThrowing { _ in [ChatText.moderationUnavailable] }.nonisolated())
    }

    /// `/op NICK` (`grant`) or `/deop NICK`: operator rights for that connection, until it leaves.
    func setOperator(_ session: any ChatClient, _ id: ConnectionKey, nickname: String, grant: Bool) {
        guard let actor = moderation.operators[id] else { return }
        guard let member = roster.member(named: nickname), let name = member.nickname, let target = sessions[member.id] else {
            return session.send(ChatText.noSuchNick(nickname))
        }
        if grant {
            guard moderation.operators[member.id] == nil else { return session.send(ChatText.alreadyOperator(name)) }
            moderation.operators[member.id] = name
            target.send(ChatText.madeOperator(by: actor))
        } else {
            guard moderation.operators.removeValue(forKey: member.id) != nil else { return session.send(ChatText.notOperator(name)) }
            if target !== session { target.send(ChatText.noLongerOperator(by: actor)) }
        }
        record(ModerationLogEntry(at: .now(), actor: actor, action: grant ? "op" : "deop", target: name))
        session.send(grant ? ChatText.didOp(name) : ChatText.didDeop(name))
    }

    /// Writes a log entry for an action that changes nothing stored; a failure is logged, not shown.
    func record(_ entry: ModerationLogEntry) {
        moderationStore?.log(entry).assumeIsolated().whenFailure { error in
            self.logger.warning("moderation log entry not stored", metadata: ["action": "\(entry.action)", "error": "\(error)"])
        }
    }
}
