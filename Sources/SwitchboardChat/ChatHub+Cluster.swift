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
        let cluster = ChatCluster(
            serverID: serverID, hub: self, transport: transport, directory: directory, serverTimeout: serverTimeout,
            logger: logger)
        self.cluster = cluster
        return cluster.start()
    }

    /// Stops telling the other servers (after the members' leaves are sent).
    func stopCluster() -> EventLoopFuture<Void> {
        cluster?.shutdown() ?? eventLoop.makeSucceededVoidFuture()
    }

    /// `/nick` in cluster mode: the database decides who gets a name, so two servers cannot hand out the same
    /// one. While the servers are apart (no database), the name is taken here and settled on reconnect.
    func clusterRename(_ session: ChatSession, _ id: ConnectionKey, to name: String, _ cluster: ChatCluster) {
        switch roster.checkRename(id, to: name) {
        case .failure(.invalid(let problem)): return session.send(ChatText.invalidNickname(problem))
        case .failure(.alreadyNamed(let name)): return session.send(ChatText.alreadyNamed(name))
        case .failure(.taken(let name)): return session.send(ChatText.nicknameTaken(name))
        case .success: break
        }
        guard !cluster.pendingClaims.contains(id) else { return session.send(ChatText.nickPending) }
        let time = Timestamp.now().microsecondsSinceEpoch
        guard cluster.inContact else { return applyRename(session, id, to: name, at: time, claimed: false) }
        session.awaitsHub = true
        cluster.claim(name, for: id, at: time).assumeIsolated().whenComplete { result in
            defer {
                session.awaitsHub = false
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

    private func applyRename(_ session: ChatSession, _ id: ConnectionKey, to name: String, at time: Int64, claimed: Bool) {
        switch roster.rename(id, to: name, at: time) {
        case .success(let old):
            if claimed { claimedNames.insert(id) } else { claimedNames.remove(id) }
            broadcast(ChatText.renamed(old, name), except: nil)
            let claimedAt = roster.members[id]?.claimedAt ?? time
            cluster?.publish(.renamed(member: id.rawValue, claimedAt: claimedAt, nickname: name))
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
        claimedNames.remove(forced.id)
        cluster?.release(forced.id)
        sessions[forced.id]?.send(ChatText.nameLost(forced.old, now: forced.new))
        broadcast(ChatText.renamed(forced.old, forced.new), except: nil)
        let claimedAt = roster.members[forced.id]?.claimedAt ?? 0
        cluster?.publish(.renamed(member: forced.id.rawValue, claimedAt: claimedAt, nickname: forced.new))
    }

    /// After a reconcile: `id` lost `nickname` to an earlier claim elsewhere (if it still has that name).
    func loseName(_ id: ConnectionKey, ifStill nickname: String?) {
        guard let nickname, roster.nickname(of: id) == nickname, let forced = roster.takeGuestName(id) else { return }
        forcedRename(forced)
    }

    /// The names local members hold that need a claim (every name but their guest names), with when they
    /// took them.
    func localClaims() -> [(id: ConnectionKey, nickname: String, claimedAt: Int64)] {
        roster.members.values.compactMap { member in
            guard let nickname = member.nickname, !isGuestName(member) else { return nil }
            return (member.id, nickname, member.claimedAt)
        }
    }

    /// After a reconcile: `id` holds its claim on `nickname` (if it still has that name).
    func nameClaimed(_ id: ConnectionKey, _ nickname: String) {
        if roster.nickname(of: id) == nickname { claimedNames.insert(id) }
    }

    private func isGuestName(_ member: Roster.Member) -> Bool {
        guard let nickname = member.nickname else { return false }
        let base = member.visitor.map { "guest\($0)" } ?? "guest-\(member.id.rawValue)"
        return nickname == base || nickname.hasPrefix(base + "-")
    }

    /// Every local member that has joined, as the snapshot other servers rebuild their view from.
    func localSnapshot() -> [ClusterEvent] {
        roster.members.values.compactMap { member in
            member.nickname.map {
                .joined(member: member.id.rawValue, visitor: member.visitor ?? 0, claimedAt: member.claimedAt, nickname: $0)
            }
        }
    }

    /// The database's count of the other servers' visits, read by the heartbeat when ``visitsHeardTally``
    /// said `tallyAtRead`: `/count`'s total starts again from it, plus this server's own visits and what was
    /// heard since. So every server's total agrees within a heartbeat interval once visits stop, whatever
    /// messages were dropped meanwhile.
    func visitsElsewhereCounted(_ total: Int64, tallyAtRead: Int64) {
        eventLoop.preconditionInEventLoop()
        roster.rebaseVisits(elsewhere: total, heardSince: visitsHeardTally.withLockedValue { $0 } - tallyAtRead)
    }

    /// Servers whose members are held here.
    var remoteServers: Set<Int64> { roster.remoteServers }

    /// The members of `server` held here.
    func remoteMembers(of server: Int64) -> [Roster.RemoteMember] { roster.remoteMembers(of: server) }

    /// Says `line` to every local client; returns how many there are.
    @discardableResult
    func announce(_ line: String) -> Int {
        broadcast(line, except: nil)
        return members.count
    }

    func remoteJoined(_ member: Roster.RemoteMember) {
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

    func remoteLeft(_ id: Roster.RemoteID, shownAs shown: String) {
        guard let member = roster.removeRemote(id) else { return }
        if takeNamedNotice(joined: false) {
            broadcast(ChatText.left(member.nickname, reason: shown, connected: connectedCount), except: nil)
        }
    }

    func remoteRenamed(_ member: Roster.RemoteMember) {
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

    func remoteSaid(_ id: Roster.RemoteID, _ text: String, kind: MessageKind) {
        guard let nickname = roster.remote[id]?.nickname else { return }
        broadcast(kind == .say ? ChatText.say(nickname, text) : ChatText.me(nickname, text), except: nil)
    }

    func remotePrivateMessage(from: Roster.RemoteID, to: ConnectionKey, _ text: String) {
        guard let sender = roster.remote[from]?.nickname, let session = sessions[to], roster.nickname(of: to) != nil else {
            return
        }
        session.send(ChatText.privateReceived(from: sender, text))
    }

    /// A server's whole roster (its snapshot): applied quietly — clients see the counts move, and after an
    /// outage one `* back in contact` line. `announcingNewcomers` (a server taken for lost is back, and its
    /// members were shown leaving): those not known here are shown joining (batched like any joins).
    func replaceRemoteMembers(of server: Int64, with members: [Roster.RemoteMember], announcingNewcomers: Bool = false) {
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
    func removeServer(_ server: Int64, shownAs shown: String) {
        for member in roster.remoteMembers(of: server).sorted(by: { $0.id.member < $1.id.member }) {
            remoteLeft(member.id, shownAs: shown)
        }
    }
}
