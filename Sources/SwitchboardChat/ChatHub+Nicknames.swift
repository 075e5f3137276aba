import NIOCore
import SwitchboardCluster
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardModeration
import SwitchboardProtocol

/// Owned nicknames: `/register`, `/identify` (and `/nick NAME PASSWORD`), `/drop`, and the rename back to a
/// guest name of a client that holds a registered name without identifying within
/// ``ChatConfiguration/identifyGrace`` (`--identify-grace`, 60 s). Registrations are rows (every server sees them through the moderation
/// snapshot); being identified belongs to the connection. On the hub's loop.
extension ChatHub {
    /// Whether `id` is identified for the name it holds now.
    func isIdentified(_ id: ConnectionKey) -> Bool {
        guard let key = moderation.identified[id], let name = roster.nickname(of: id) else { return false }
        return key == Nickname.key(name)
    }

    /// Whether `name` is a guest name (`guest42`, `guest-7`, `guest42-2`): those are never registered.
    static func isGuestLike(_ name: String) -> Bool {
        let key = Nickname.key(name)
        guard key.hasPrefix("guest") else { return false }
        return key.dropFirst(5).allSatisfy { $0 == "-" || ($0.isASCII && $0.isNumber) }
    }

    /// `/register PASSWORD`: binds the current nickname to PASSWORD.
    func register(_ session: any ChatClient, _ id: ConnectionKey, password: String) {
        guard let store = moderationStore, let name = roster.nickname(of: id) else {
            return session.send(ChatText.moderationUnavailable)
        }
        guard !ChatHub.isGuestLike(name) else { return session.send(ChatText.registerGuest) }
        guard password.utf8.count <= PasswordHash.maximumPasswordBytes else { return session.send(ChatText.passwordTooLong) }
        answer(session, id, store.registerNickname(name, password: password).assumeIsolated().map { registered -> [String] in
            guard registered else { return [ChatText.registeredAlready(name)] }
            let key = Nickname.key(name)
            self.moderation.snapshot.registeredNicknames.insert(key)
            self.moderation.identified[id] = key
            self.moderation.graceTimers.removeValue(forKey: id)?.cancel()
            self.record(ModerationLogEntry(at: .now(), actor: name, action: "register", target: name))
            return [ChatText.registered(name)]
        }.flatMapErrorThrowing { [ChatText.passwordCheckFailed($0)] }.nonisolated())
    }

    /// `/identify PASSWORD` (for the current nickname) or `/nick NAME PASSWORD` (`name`: identify for NAME,
    /// then take it — from an unidentified holder here too, who becomes its guest name).
    func identify(_ session: any ChatClient, _ id: ConnectionKey, password: String, as name: String? = nil) {
        guard let store = moderationStore, let current = roster.nickname(of: id) else {
            return session.send(ChatText.moderationUnavailable)
        }
        let target = name ?? current
        if let problem = Nickname.problem(with: target) { return session.send(ChatText.invalidNickname(problem)) }
        let key = Nickname.key(target)
        guard moderation.snapshot.registeredNicknames.contains(key) else { return session.send(ChatText.notRegistered(target)) }
        let now = eventLoop.now
        let address = Self.guessingKey(session)
        if let wait = [moderation.perConnection.wait(for: id, now: now), moderation.perAddress.wait(for: address, now: now)]
            .compactMap({ $0 }).max()
        {
            logger.notice("identify throttled", metadata: ["peer": "\(session.peer)", "nickname": "\(target)"])
            return session.send(ChatText.tooManyWrongPasswords(retryIn: wait))
        }
        let peer = session.peer
        moderation.perConnection.started(id)
        moderation.perAddress.started(address)
        answer(session, id, store.checkNickname(target, password: password).assumeIsolated().map { right -> [String] in
            // The address pays for a wrong guess even when its connection left before the answer.
            self.moderation.perAddress.finished(address, failed: !right, now: self.eventLoop.now)
            guard self.sessions[id] === session else { return [] }
            self.moderation.perConnection.finished(id, failed: !right, now: self.eventLoop.now)
            guard right else {
                self.logger.notice("identify failed", metadata: ["peer": "\(peer)", "nickname": "\(target)"])
                return [ChatText.wrongNicknamePassword(target)]
            }
            self.moderation.perConnection.succeeded(id)
            self.moderation.identified[id] = key
            if Nickname.key(self.roster.nickname(of: id) ?? "") == key {
                self.moderation.graceTimers.removeValue(forKey: id)?.cancel()
                return [ChatText.identified(target)]
            }
            // Taking the name: an unidentified holder here gives it up first.
            if let holder = self.roster.member(named: target), let held = holder.nickname, holder.id != id,
                !self.isIdentified(holder.id)
            {
                self.renameToGuest(holder.id, because: ChatText.nameReclaimed(held))
            }
            self.rename(session, id, to: target)
            return [ChatText.identified(target)]
        }.flatMapErrorThrowing { error in
            self.moderation.perAddress.finished(address, failed: false, now: self.eventLoop.now)
            self.moderation.perConnection.finished(id, failed: false, now: self.eventLoop.now)
            return [ChatText.passwordCheckFailed(error)]
        }.nonisolated())
    }

    /// `/drop` (your own nickname, once identified) or `/drop NICK` (operators: any).
    func drop(_ session: any ChatClient, _ id: ConnectionKey, nickname: String?) {
        guard let store = moderationStore, let current = roster.nickname(of: id) else {
            return session.send(ChatText.moderationUnavailable)
        }
        let target: String
        let entry: ModerationLogEntry?
        if let nickname, Nickname.key(nickname) != Nickname.key(current) {
            guard let actor = moderation.operators[id] else { return session.send(ChatText.dropOthersOperatorsOnly) }
            target = nickname
            entry = ModerationLogEntry(at: .now(), actor: actor, action: "drop", target: nickname)
        } else {
            guard isIdentified(id) else { return session.send(ChatText.identifyToDrop(current)) }
            target = current
            entry = ModerationLogEntry(at: .now(), actor: current, action: "drop", target: current)
        }
        answer(session, id, store.dropNickname(target, log: entry).assumeIsolated().map { dropped -> [String] in
            guard dropped else { return [ChatText.notRegistered(target)] }
            let key = Nickname.key(target)
            self.moderation.snapshot.registeredNicknames.remove(key)
            for (holder, identifiedKey) in self.moderation.identified where identifiedKey == key {
                self.moderation.identified[holder] = nil
            }
            return [ChatText.dropped(target)]
        }.flatMapErrorThrowing { _ in [ChatText.moderationUnavailable] }.nonisolated())
    }

    /// After any rename of `id` to `name` (here, or decided by the database): a registered name it has not
    /// identified for must be identified within the grace, or it is taken back.
    func tookNickname(_ id: ConnectionKey, _ name: String) {
        moderation.graceTimers.removeValue(forKey: id)?.cancel()
        let key = Nickname.key(name)
        guard moderation.snapshot.registeredNicknames.contains(key), moderation.identified[id] != key,
            let session = sessions[id]
        else { return }
        let grace = configuration.identifyGrace
        // Whole seconds, rounded up: a client told "within 2 s" is never renamed sooner than that.
        session.send(ChatText.identifyWithin(name, seconds: (grace.nanoseconds + 999_999_999) / 1_000_000_000))
        moderation.graceTimers[id] = eventLoop.assumeIsolated().scheduleTask(in: grace) {
            self.moderation.graceTimers[id] = nil
            guard Nickname.key(self.roster.nickname(of: id) ?? "") == key, self.moderation.identified[id] != key else { return }
            self.renameToGuest(id, because: ChatText.didNotIdentify(name))
        }
    }

    /// Renames `id` to its guest name, telling it why and everyone the new name.
    private func renameToGuest(_ id: ConnectionKey, because line: String) {
        guard let forced = roster.takeGuestName(id) else { return }
        moderation.graceTimers.removeValue(forKey: id)?.cancel()
        cluster?.release(id)
        sessions[id]?.send(line + " you are now \(forced.new)")
        broadcast(ChatText.renamed(forced.old, forced.new), except: nil)
        let claimedAt = roster.members[id]?.claimedAt ?? 0
        cluster?.publish(.renamed(member: id.rawValue, claimedAt: claimedAt, nickname: forced.new))
    }
}
