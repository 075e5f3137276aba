import NIOCore
import SwitchboardHistory

// The other servers' health, and this server's name claims: the rest of ``ClusterStateMachine``'s inputs.
extension ClusterStateMachine {
    // MARK: - Other servers' health

    /// The status timer (every second): in contact, ask the database about the servers whose members are held
    /// here (`remoteServers`, ``ClusterView/remoteServers``), those that departed, and any late one.
    ///
    /// Lateness is the database's judgement by its own clock, made when its statement runs and made again in
    /// the one that marks a server lost, so a busy loop here can only delay a judgement, never make a wrong
    /// one. None is judged before a whole `--server-timeout` in contact (their heartbeats could not be written
    /// while the database was away either).
    package mutating func statusTimerFired(now: NIODeadline, remoteServers: Set<Int64>) -> [Action] {
        guard inContact, !statusCheckRunning, !isShutDown, let since = contactSinceForChecks else { return [] }
        statusCheckRunning = true
        judgesLateness = now - since >= configuration.serverTimeout
        return [.checkServers(known: remoteServers.union(departed).sorted())]
    }

    /// What the database said about the servers asked after: stopped ones' members leave (`server
    /// shutdown`); late ones are closed as lost (when lateness may be judged); departed ones that are live
    /// again are taken back.
    package mutating func serversChecked(_ statuses: [ClusterRepository.ServerStatus]) -> [Action] {
        statusCheckRunning = false
        guard !isShutDown else { return [] }
        var actions: [Action] = []
        for status in statuses {
            if status.stopped {
                if !departed.contains(status.id) { actions += serverDeparted(status.id, shownAs: "server shutdown") }
            } else if status.late {
                if judgesLateness, judging.insert(status.id).inserted { actions.append(.closeLostServer(status.id)) }
            } else if departed.contains(status.id) {
                actions += serverRejoined(status.id)
            }
        }
        return actions
    }

    /// The status check failed (it is made again at the next tick of the timer).
    package mutating func serverCheckFailed() {
        statusCheckRunning = false
    }

    /// The database's answer about a late server: still late, so marked gone (its rows closed) — its members
    /// leave here; or alive again — nothing changes.
    package mutating func lostServerClosed(_ id: Int64, _ outcome: ClusterRepository.LostServer) -> [Action] {
        judging.remove(id)
        guard !isShutDown else { return [] }
        if outcome == .alive { return [.report(.lateServerAlive(id))] }
        var actions: [Action] = []
        if !departed.contains(id) { actions.append(.report(.serverLost(id))) }
        if case .closed(let rows) = outcome, rows > 0 { actions.append(.report(.lostServerRowsClosed(server: id, rows: rows))) }
        return actions + serverDeparted(id, shownAs: "server lost")
    }

    /// Closing a lost server failed: it is judged again at the next check.
    package mutating func lostServerCloseFailed(_ id: Int64) {
        judging.remove(id)
    }

    /// Server `id` stopped or was lost: its members leave, and its payloads are not heard until it is back.
    private mutating func serverDeparted(_ id: Int64, shownAs shown: String) -> [Action] {
        forget(id)
        rejoining.remove(id)
        departed.insert(id)
        return [.apply(.serverLeft(id, shownAs: shown))]
    }

    /// A server taken for lost is live again (it was busy or cut off, not dead, and has rejoined): it is heard
    /// again, and asked for its roster; its members are shown joining.
    private mutating func serverRejoined(_ id: Int64) -> [Action] {
        departed.remove(id)
        forget(id)
        rejoin(id)
        _ = publish(.wantSnapshot(server: id))
        return [.report(.serverRejoined(id))]
    }

    /// This server had been taken for lost by the others and its heartbeat made its row live again: its
    /// members' names are claimed again (a later claim made meanwhile elsewhere gives way); the others take it
    /// back once they see it live, and ask for its roster.
    package mutating func rejoined() -> [Action] {
        guard !isShutDown, inContact else { return [] }
        return [.reconcileClaims]
    }

    // MARK: - Names

    /// A claim for local member `id` went to the database.
    package mutating func claimStarted(_ id: ConnectionKey) {
        pendingClaims.insert(id)
    }

    /// The database answered member `id`'s claim: `held` it holds the name now (`nil`: the claim failed).
    package mutating func claimFinished(_ id: ConnectionKey, held: Bool?) {
        pendingClaims.remove(id)
        if held == true { claimed.insert(id) }
    }

    /// Local member `id` left, or lost or gave up its name: whether the database holds a claim of its to drop
    /// (one it holds, or one on its way).
    package mutating func release(_ id: ConnectionKey) -> Bool {
        claimed.remove(id) != nil || pendingClaims.contains(id)
    }

    /// After contact began (or this server rejoined), its claims made again: `claims` (the local members
    /// with a name to claim) hold theirs, but `lost` (member ids) lost theirs to an earlier claim elsewhere.
    package mutating func claimsReconciled(_ claims: [LocalMember], lost: [UInt64]) -> [Action] {
        let lostSet = Set(lost)
        var actions: [Action] = []
        for claim in claims {
            if lostSet.contains(claim.id.rawValue) {
                actions.append(.apply(.nameLost(claim.id, nickname: claim.nickname)))
            } else {
                claimed.insert(claim.id)
            }
        }
        return actions
    }
}
