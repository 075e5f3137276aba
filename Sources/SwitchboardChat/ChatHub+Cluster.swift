import Logging
import NIOCore
import SwitchboardCluster
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardProtocol

extension ChatHub {
    /// Joins the other servers on this database: from now on everything here is told to them and what
    /// happens there is shown here. The future completes once this server has their rosters (or gave up
    /// waiting for them); the server listens after that, so its first welcomes count everyone.
    func startCluster(
        serverID: Int64, transport: any ClusterTransport, directory: any ClusterDirectory, serverTimeout: TimeAmount
    ) -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        precondition(cluster == nil, "the cluster is started once")
        roster.localServer = serverID
        let node = ClusterNode(
            serverID: serverID, host: self, transport: transport, directory: directory, serverTimeout: serverTimeout,
            eventLoop: eventLoop, logger: logger)
        let cluster = ChatCluster(node: node, hub: self)
        self.cluster = cluster
        return cluster.start()
    }

    /// Stops telling the other servers (after the members' leaves are sent).
    func stopCluster() -> EventLoopFuture<Void> {
        cluster?.shutdown() ?? eventLoop.makeSucceededVoidFuture()
    }

    /// `/nick` in cluster mode: the database decides who gets a name, so two servers cannot hand out the same
    /// one. While the servers are apart (no database), the name is taken here and settled on reconnect.
    func clusterRename(_ session: any ChatClient, _ id: ConnectionKey, to name: String, _ cluster: ChatCluster) {
        switch roster.checkRename(id, to: name) {
        case .failure(.invalid(let problem)): return session.send(ChatText.invalidNickname(problem))
        case .failure(.alreadyNamed(let name)): return session.send(ChatText.alreadyNamed(name))
        case .failure(.taken(let name)): return session.send(ChatText.nicknameTaken(name))
        case .success: break
        }
        guard !cluster.isClaimPending(id) else { return session.send(ChatText.nickPending) }
        let time = Timestamp.now().microsecondsSinceEpoch
        guard cluster.inContact else { return applyRename(session, id, to: name, at: time, claimed: false) }
        deciding.insert(id)
        cluster.claim(name, for: id, at: time).assumeIsolated().whenComplete { result in
            defer {
                self.deciding.remove(id)
                session.drain()
            }
            guard self.sessions[id] === session, self.roster.nickname(of: id) != nil else {
                if case .success(true) = result { cluster.release(id) }  // it left meanwhile
                return
            }
            switch result {
            case .success(true):
                self.applyRename(session, id, to: name, at: time, claimed: true)
            case .success(false):
                session.send(ChatText.nicknameTaken(name))
            case .failure(let error):
                self.logger.warning("cannot claim a nickname", metadata: ["error": "\(error)"])
                session.send(ChatText.nickUnavailable)
            }
        }
    }

    private func applyRename(_ session: any ChatClient, _ id: ConnectionKey, to name: String, at time: Int64, claimed: Bool) {
        switch roster.rename(id, to: name, at: time) {
        case .success(let old):
            broadcast(ChatText.renamed(old, name), except: nil)
            let claimedAt = roster.members[id]?.claimedAt ?? time
            cluster?.publish(.renamed(member: id.rawValue, claimedAt: claimedAt, nickname: name))
            tookNickname(id, name)
        case .failure(.taken(let name)):
            // Someone elsewhere took it while the claim was on its way (only while the servers were apart).
            if claimed { cluster?.release(id) }
            session.send(ChatText.nicknameTaken(name))
        case .failure(.alreadyNamed(let name)): session.send(ChatText.alreadyNamed(name))
        case .failure(.invalid(let problem)): session.send(ChatText.invalidNickname(problem))
        }
    }

    /// A local member lost its name to an earlier claim on another server: it becomes its guest name, is
    /// told why, and everyone sees the rename.
    private func forcedRename(_ forced: Roster.ForcedRename) {
        cluster?.release(forced.id)
        sessions[forced.id]?.send(ChatText.nameLost(forced.old, now: forced.new))
        broadcast(ChatText.renamed(forced.old, forced.new), except: nil)
        let claimedAt = roster.members[forced.id]?.claimedAt ?? 0
        cluster?.publish(.renamed(member: forced.id.rawValue, claimedAt: claimedAt, nickname: forced.new))
    }

    /// Guest names are never claimed (``GuestName``).
    private func isGuestName(_ member: Roster.Member) -> Bool {
        guard let nickname = member.nickname else { return false }
        return GuestName.isGuestName(nickname, base: GuestName.base(visitor: member.visitor, connection: member.id.rawValue))
    }

    /// The database's count of the other servers' visits, read by the heartbeat when ``visitsHeardTally``
    /// said `tallyAtRead`: `/count`'s total starts again from it, plus this server's own visits and what was
    /// heard since. So every server's total agrees within a heartbeat interval once visits stop, whatever
    /// messages were dropped meanwhile.
    func visitsElsewhereCounted(_ total: Int64, tallyAtRead: Int64) {
        eventLoop.preconditionInEventLoop()
        roster.rebaseVisits(elsewhere: total, heardSince: visitsHeardTally.withLockedValue { $0 } - tallyAtRead)
    }

    /// Says `line` to every local client.
    private func announce(_ line: String) {
        broadcast(line, except: nil)
    }

    /// A member of another server joined: counted as a visit (the first time it is heard of), placed (taking
    /// its name from a later local claim), and announced like any join.
    private func remoteJoined(_ member: RemoteMember) {
        let known = roster.remote[member.id] != nil
        if !known {
            roster.countRemoteVisit()
            visitsHeardTally.withLockedValue { $0 += 1 }
        }
        if let forced = roster.placeRemote(member) { forcedRename(forced) }
        if !known, takeNamedNotice(joined: true) {
            broadcast(ChatText.joined(member.nickname, connected: connectedCount), except: nil)
        }
    }

    private func remoteLeft(_ id: RemoteMember.ID, shownAs shown: String) {
        guard let member = roster.removeRemote(id) else { return }
        if takeNamedNotice(joined: false) {
            broadcast(ChatText.left(member.nickname, reason: shown, connected: connectedCount), except: nil)
        }
    }

    private func remoteRenamed(_ member: RemoteMember) {
        var member = member
        member.visitor = roster.remote[member.id]?.visitor ?? 0  // a rename does not say it again
        guard let old = roster.remote[member.id]?.nickname else {
            // A member this server missed the join of: known from now on, quietly.
            if let forced = roster.placeRemote(member) { forcedRename(forced) }
            return
        }
        if let forced = roster.placeRemote(member) { forcedRename(forced) }
        if old != member.nickname { broadcast(ChatText.renamed(old, member.nickname), except: nil) }
    }

    private func remoteSaid(_ id: RemoteMember.ID, _ kind: MessageKind, _ text: String) {
        guard let nickname = roster.remote[id]?.nickname else { return }
        broadcastChat(kind == .say ? ChatText.say(nickname, text) : ChatText.me(nickname, text), body: text, from: nickname, except: nil)
        // The server it was said on stores it; a newcomer here is replayed it from memory all the same.
        recentLines.append(StoredMessage(nickname: nickname, kind: kind, body: text, sentAt: Timestamp.now()))
    }

    private func remotePrivateMessage(from: RemoteMember.ID, to: ConnectionKey, _ text: String) {
        guard let sender = roster.remote[from]?.nickname, let session = sessions[to], roster.nickname(of: to) != nil,
            !preferences.ignores(to, Nickname.key(sender))
        else { return }
        session.send(ChatText.privateReceived(from: sender, text))
    }

    /// A server's whole roster (its snapshot): applied quietly — clients see the counts move, and after an
    /// outage one `* back in contact` line. `announcingNewcomers` (a server taken for lost is back, and its
    /// members were shown leaving): those not known here are shown joining (batched like any joins).
    private func replaceRemoteMembers(of server: Int64, with members: [RemoteMember], announcingNewcomers: Bool) {
        let incoming = Set(members.map(\.id))
        for old in roster.remoteMembers(of: server) where !incoming.contains(old.id) {
            roster.removeRemote(old.id)
        }
        for member in members {
            let known = roster.remote[member.id] != nil
            if let forced = roster.placeRemote(member) { forcedRename(forced) }
            if announcingNewcomers, !known, let nickname = roster.remote[member.id]?.nickname,
                takeNamedNotice(joined: true)
            {
                broadcast(ChatText.joined(nickname, connected: connectedCount), except: nil)
            }
        }
    }

    /// Every member of `server` leaves (it stopped, or was lost), each shown leaving with `shown`.
    private func removeServer(_ server: Int64, shownAs shown: String) {
        for member in roster.remoteMembers(of: server).sorted(by: { $0.id.member < $1.id.member }) {
            remoteLeft(member.id, shownAs: shown)
        }
    }
}

/// The contract with the cluster: its one way in, and what it may read.
extension ChatHub: ClusterHost {
    package func apply(_ change: RemoteChange) {
        switch change {
        case .joined(let member): remoteJoined(member)
        case .left(let id, let shown): remoteLeft(id, shownAs: shown)
        case .renamed(let member): remoteRenamed(member)
        case .said(let id, let kind, let text): remoteSaid(id, kind, text)
        case .privateMessage(let from, let to, let text): remotePrivateMessage(from: from, to: to, text)
        case .roster(let server, let members, let announcing):
            replaceRemoteMembers(of: server, with: members, announcingNewcomers: announcing)
        case .serverLeft(let server, let shown): removeServer(server, shownAs: shown)
        case .nameLost(let id, let nickname):
            // It may have taken another name meanwhile.
            guard roster.nickname(of: id) == nickname, let forced = roster.takeGuestName(id) else { return }
            forcedRename(forced)
        case .contactLost: announce(ChatText.lostContact)
        case .contactRestored:
            announce(ChatText.backInContact(connected: connectedCount))
            recentLines.forget()  // what the others said during the outage is in the database only
        case .fellBehind: announce(ChatText.fellBehind)
        case .sendingBacklogged(let behind): setBehind(.cluster, behind)
        }
    }

    package var localMembers: [LocalMember] {
        roster.members.values.compactMap { member in
            member.nickname.map {
                LocalMember(
                    id: member.id, nickname: $0, visitor: member.visitor, claimedAt: member.claimedAt,
                    isGuestName: isGuestName(member))
            }
        }
    }

    package var hasLocalMembers: Bool { !members.isEmpty }

    package var remoteServers: Set<Int64> { roster.remoteServers }

    package func remoteMembers(of server: Int64) -> [RemoteMember] { roster.remoteMembers(of: server) }
}
