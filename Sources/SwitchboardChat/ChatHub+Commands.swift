import NIOCore
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardProtocol

/// What the hub does for a joined client's line: says it to everyone, or runs its command (the table is
/// ``ChatCommands``; the handlers call these). On the hub's event loop, like the rest of the hub.
extension ChatHub {
    /// Carries out one line from a joined session: says it, or runs its command from ``ChatCommands/table``.
    /// The hub is the only user of history, reads included.
    func perform(_ line: ChatLine, from session: any ChatClient, _ id: ConnectionKey) {
        guard let nickname = roster.nickname(of: id) else { return }
        switch line {
        case .empty:
            break
        case .say(let text):
            say(session, id, nickname, text, kind: .say)
        case .command(let name, let typed, let argument):
            guard let command = ChatCommands.byName[name] else { return session.send(ChatText.unknownCommand(typed)) }
            if command.operatorOnly && !isOperator(id) { return session.send(ChatText.operatorsOnly(command.names[0])) }
            command.run(ChatCommandContext(
                hub: self, session: session, id: id, nickname: nickname, argument: argument, command: command))
        }
    }

    /// `/nick`: here, or in cluster mode as the database decides.
    func rename(_ session: any ChatClient, _ id: ConnectionKey, to name: String) {
        if Nickname.problem(with: name) == nil, moderation.snapshot.bans.ban(address: nil, nickname: name, at: .now()) != nil {
            return session.send(ChatText.bannedName(name))
        }
        if let cluster { return clusterRename(session, id, to: name, cluster) }
        switch roster.rename(id, to: name) {
        case .success(let old):
            broadcast(ChatText.renamed(old, name), except: nil)
            tookNickname(id, name)
        case .failure(.invalid(let problem)): session.send(ChatText.invalidNickname(problem))
        case .failure(.alreadyNamed(let name)): session.send(ChatText.alreadyNamed(name))
        case .failure(.taken(let name)): session.send(ChatText.nicknameTaken(name))
        }
    }

    /// `/who`.
    func who(_ session: any ChatClient) {
        tick.charge(roster.joinedCount * 16)  // sorting every name is work too
        var names = roster.sortedNicknames(limit: configuration.maximumWhoNames)
        if !preferences.away.isEmpty || !moderation.identified.isEmpty {
            names = names.map { name in
                guard let member = roster.member(named: name) else { return name }
                return name + (isIdentified(member.id) ? " (identified)" : "")
                    + (preferences.away[member.id] != nil ? " (away)" : "")
            }
        }
        session.send(ChatText.who(names, total: roster.joinedCount))
    }

    /// `/msg`: to a member here, or on another server.
    func privateMessage(from session: any ChatClient, _ id: ConnectionKey, _ nickname: String, to target: String, _ text: String) {
        if isMuted(id, nickname) {
            // The muted sender sees what it always sees (`-> bob: text`), so it cannot tell by trying.
            guard let name = roster.member(named: target)?.nickname ?? roster.remoteMember(named: target)?.nickname else {
                return session.send(ChatText.noSuchNick(target))
            }
            swallowMuted(session, id)
            return session.send(ChatText.privateSent(to: name, text))
        }
        if let cluster, let recipient = roster.remoteMember(named: target) {
            cluster.publish(.privateMessage(from: id.rawValue, toServer: recipient.id.server, to: recipient.id.member, text: text))
            return session.send(ChatText.privateSent(to: recipient.nickname, text))
        }
        guard let recipient = roster.member(named: target), let recipientNickname = recipient.nickname,
            let other = sessions[recipient.id]
        else { return session.send(ChatText.noSuchNick(target)) }
        // Someone ignoring the sender gets nothing; the sender sees the usual echo (ignoring is not announced).
        if !preferences.ignores(recipient.id, Nickname.key(nickname)) {
            other.send(ChatText.privateReceived(from: nickname, text))
        }
        session.send(ChatText.privateSent(to: recipientNickname, text))
        if let reason = preferences.away[recipient.id] { session.send(ChatText.isAway(recipientNickname, reason)) }
    }

    /// `/history N`: the reply waits for the database, in order with the rest of the session's output.
    func recentHistory(_ count: Int, for session: any ChatClient) {
        session.reply(history.recentMessages(limit: count).map { messages in
            messages.map(ChatText.historyLine) + [ChatText.endOfHistory]
        })
    }

    /// `/seen NAME`: online now, or the database's answer.
    func seen(_ name: String, for session: any ChatClient) {
        if let online = roster.member(named: name)?.nickname ?? roster.remoteMember(named: name)?.nickname {
            return session.send(ChatText.online(online))
        }
        session.reply(history.lastSeen(nickname: name).map { seen in
            [seen.map { ChatText.seen($0.nickname, at: $0.at) } ?? ChatText.neverSeen(name)]
        })
    }

    func say(_ session: any ChatClient, _ id: ConnectionKey, _ nickname: String, _ text: String, kind: MessageKind) {
        if isMuted(id, nickname) { return swallowMuted(session, id) }
        let line = kind == .say ? ChatText.say(nickname, text) : ChatText.me(nickname, text)
        broadcastChat(line, body: text, from: nickname, except: session)
        let now = Timestamp.now()
        history.messageSaid(id, nickname: nickname, kind: kind, body: text, at: now)
        recentLines.append(StoredMessage(nickname: nickname, kind: kind, body: text, sentAt: now))
        cluster?.publish(kind == .say ? .said(member: id.rawValue, text: text) : .acted(member: id.rawValue, text: text))
    }
}
