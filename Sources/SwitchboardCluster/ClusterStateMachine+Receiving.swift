import NIOCore
import SwitchboardHistory

// What the other servers said, and what the transport dropped: ``ClusterStateMachine``'s receiving inputs.
extension ClusterStateMachine {
    /// Whether `payload` is this server's own (the transport echoes what it sends): it is not applied.
    package func isOwnEcho(_ payload: String) -> Bool { payload.hasPrefix(ownPrefix) }

    /// A payload some server published.
    package mutating func received(_ payload: String) -> [Action] {
        if isOwnEcho(payload) { return [] }
        guard let message = ClusterMessage(decoding: payload) else {
            return [.report(.notAMessage(bytes: payload.utf8.count))]
        }
        let origin = message.origin
        guard origin != serverID, !departed.contains(origin) else { return [] }
        peers.insert(origin)
        var actions: [Action] = []
        if let last = lastSequence[origin] {
            if message.sequence <= last { return [] }  // a repeat
            if message.sequence != last + 1 {
                actions.append(.report(.missedMessages(server: origin, count: message.sequence - last - 1)))
                snapshotParts[origin] = nil
                _ = publish(.wantSnapshot(server: origin))
                // What was missed may have been a request for this server's roster.
                snapshotRequested = true
            }
        }
        lastSequence[origin] = message.sequence
        switch message.kind {
        case .snapshot(let part, let parts):
            var collected = part == 1 ? PartialSnapshot(next: 1, members: []) : snapshotParts[origin]
            guard collected?.next == part else {
                snapshotParts[origin] = nil
                return actions
            }
            for case .joined(let member, let visitor, let claimedAt, let nickname) in message.events {
                collected!.members.append(RemoteMember(
                    id: RemoteMember.ID(server: origin, member: member), nickname: nickname, claimedAt: claimedAt,
                    visitor: visitor))
            }
            collected!.next += 1
            if part == parts {
                snapshotParts[origin] = nil
                let announcing = rejoining.remove(origin) != nil
                actions.append(.apply(.roster(server: origin, members: collected!.members, announcingNewcomers: announcing)))
                actions += snapshotArrived(from: origin)
            } else {
                snapshotParts[origin] = collected
            }
        case .events:
            for event in message.events { apply(event, from: origin, to: &actions) }
        }
        return actions
    }

    private mutating func apply(_ event: ClusterEvent, from origin: Int64, to actions: inout [Action]) {
        func id(_ member: UInt64) -> RemoteMember.ID { RemoteMember.ID(server: origin, member: member) }
        switch event {
        case .joined(let member, let visitor, let claimedAt, let nickname):
            actions.append(.apply(.joined(RemoteMember(id: id(member), nickname: nickname, claimedAt: claimedAt, visitor: visitor))))
        case .left(let member, let reason):
            actions.append(.apply(.left(id(member), shownAs: reason)))
        case .renamed(let member, let claimedAt, let nickname):
            actions.append(.apply(.renamed(RemoteMember(id: id(member), nickname: nickname, claimedAt: claimedAt))))
        case .said(let member, let text):
            actions.append(.apply(.said(id(member), .say, text)))
        case .acted(let member, let text):
            actions.append(.apply(.said(id(member), .me, text)))
        case .privateMessage(let from, let toServer, let to, let text):
            if toServer == serverID { actions.append(.apply(.privateMessage(from: id(from), to: ConnectionKey(to), text))) }
        case .wantSnapshot(let server):
            if server == 0 || server == serverID { snapshotRequested = true }
        }
    }

    /// The transport dropped `count` payloads because this server fell behind: ask everyone for their rosters,
    /// and tell the clients (at most every ten seconds, if `someoneToTell`) that lines were lost.
    package mutating func dropped(_ count: Int, now: NIODeadline, someoneToTell: Bool) -> [Action] {
        var actions: [Action] = [.report(.fellBehind(dropped: count))]
        lastSequence.removeAll()
        snapshotParts.removeAll()
        actions += requestSnapshots(now: now)
        if someoneToTell, lastFellBehindNotice.map({ now - $0 >= configuration.fellBehindNoticeInterval }) ?? true {
            lastFellBehindNotice = now
            actions.append(.apply(.fellBehind))
        }
        return actions
    }

    /// Asks every server for its roster, and sends this server's own (what was dropped may have been a request
    /// for it, and the server that asked would not ask again): now, or — at most once a second, so the
    /// snapshots it brings are not what overflows the inbox again — once the second is up. A request held back
    /// is never dropped: the drop that called for it may have been of the last request's answers, and nothing
    /// else would ask.
    private mutating func requestSnapshots(now: NIODeadline) -> [Action] {
        let due = lastSnapshotRequest.map { $0 + configuration.snapshotRequestInterval } ?? now
        if due <= now {
            lastSnapshotRequest = now
            _ = publish(.wantSnapshot(server: 0))
            snapshotRequested = true
            return []
        }
        guard !snapshotRequestScheduled else { return [] }
        snapshotRequestScheduled = true
        return [.requestSnapshotsAt(due)]
    }

    /// The roster request held back by the one-a-second limit is due.
    package mutating func snapshotRequestDue(now: NIODeadline) -> [Action] {
        snapshotRequestScheduled = false
        guard !isShutDown else { return [] }
        return requestSnapshots(now: now)
    }
}
