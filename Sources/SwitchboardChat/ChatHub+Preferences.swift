import NIOCore
import SwitchboardHistory
import SwitchboardProtocol

/// `/away`, `/back`, `/ignore`, `/unignore`, `/bell`: each client's own settings, and the chat line fan-out
/// that honours them. On the hub's loop.
extension ChatHub {
    /// A chat line (`<nick> text` or `* nick text`) from `nickname` to every joined client but `sender`:
    /// the shared fan-out when nobody ignores anyone or asked for the bell; otherwise those who ignore the
    /// speaker are skipped and those it mentions who want the bell get their own copy ending in BEL.
    func broadcastChat(_ line: String, body: String, from nickname: String, except sender: (any ChatClient)?) {
        guard preferences.altersDelivery else { return broadcast(line, except: sender) }
        let speaker = Nickname.key(nickname)
        let ringing = line + "\u{07}"
        var shared: Range<Int>? = nil
        for member in members {
            let recipient = member.client
            guard recipient !== sender, let id = recipient.id else { continue }
            if preferences.ignores(id, speaker) { continue }
            if preferences.bell.contains(id), let own = roster.nickname(of: id), ClientPreferences.mentions(body, own) {
                recipient.send(ringing)
                continue
            }
            let range = shared ?? tick.append(line)
            shared = range
            if member.deliver(range, of: tick.lines) { tick.markDirty(recipient) }
            tick.charge(range.count)
        }
    }

    /// `/away [REASON]`.
    func setAway(_ session: any ChatClient, _ id: ConnectionKey, reason: String) {
        preferences.away[id] = reason
        session.send(ChatText.nowAway(reason))
    }

    /// `/back`.
    func setBack(_ session: any ChatClient, _ id: ConnectionKey) {
        guard preferences.away.removeValue(forKey: id) != nil else { return session.send(ChatText.notAway) }
        session.send(ChatText.back)
    }

    /// The away reason of a local member named `nickname`, if it is away.
    func awayReason(of nickname: String) -> String? {
        guard let member = roster.member(named: nickname) else { return nil }
        return preferences.away[member.id]
    }

    /// `/ignore NICK` (`nickname` given) or `/ignore` (the list).
    func ignore(_ session: any ChatClient, _ id: ConnectionKey, _ nickname: String?) {
        guard let nickname else {
            let names = (preferences.ignoring[id] ?? []).sorted()
            return session.send(names.isEmpty ? ChatText.ignoringNobody : ChatText.ignoring(names))
        }
        if let problem = Nickname.problem(with: nickname) { return session.send(ChatText.invalidNickname(problem)) }
        let key = Nickname.key(nickname)
        guard key != roster.nickname(of: id).map(Nickname.key) else { return session.send(ChatText.cannotIgnoreYourself) }
        var ignored = preferences.ignoring[id] ?? []
        guard ignored.count < ClientPreferences.maximumIgnored || ignored.contains(key) else {
            return session.send(ChatText.ignoringTooMany(ClientPreferences.maximumIgnored))
        }
        ignored.insert(key)
        preferences.ignoring[id] = ignored
        session.send(ChatText.nowIgnoring(nickname))
    }

    /// `/unignore NICK`.
    func unignore(_ session: any ChatClient, _ id: ConnectionKey, _ nickname: String) {
        let key = Nickname.key(nickname)
        guard preferences.ignoring[id]?.remove(key) != nil else { return session.send(ChatText.notIgnoring(nickname)) }
        if preferences.ignoring[id]?.isEmpty == true { preferences.ignoring[id] = nil }
        session.send(ChatText.noLongerIgnoring(nickname))
    }

    /// `/bell on|off`.
    func setBell(_ session: any ChatClient, _ id: ConnectionKey, on: Bool) {
        if on { preferences.bell.insert(id) } else { preferences.bell.remove(id) }
        session.send(on ? ChatText.bellOn : ChatText.bellOff)
    }
}
