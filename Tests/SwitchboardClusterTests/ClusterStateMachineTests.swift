import NIOCore
import SwitchboardHistory
import XCTest

@testable import SwitchboardCluster

/// Cluster mode's decisions, input by input, with no database, socket, event loop or clock: time is whatever
/// the test says it is. (The same paths with hubs on an in-memory bus: `ClusterHubTests`; on PostgreSQL:
/// `ClusterEndToEndTests`.)
final class ClusterStateMachineTests: XCTestCase {
    typealias Machine = ClusterStateMachine
    typealias Action = ClusterStateMachine.Action

    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private func at(_ milliseconds: Int64) -> NIODeadline { t0 + .milliseconds(milliseconds) }

    private func machine(_ server: Int64 = 1, timeout: TimeAmount = .seconds(15)) -> Machine {
        Machine(configuration: .init(serverID: server, serverTimeout: timeout))
    }

    /// A machine in contact and synced (no other live server), its start-up actions taken.
    private func inContact(_ server: Int64 = 1, timeout: TimeAmount = .seconds(15)) -> Machine {
        var machine = machine(server, timeout: timeout)
        _ = machine.contactBegan(now: t0)
        _ = machine.liveServersListed([], contact: 1)
        _ = machine.flush(localMembers: [])
        return machine
    }

    private func events(_ origin: Int64, _ sequence: UInt64, _ events: [ClusterEvent]) -> String {
        ClusterMessage(origin: origin, sequence: sequence, kind: .events, events: events).encoded
    }

    private func snapshot(
        _ origin: Int64, _ sequence: UInt64, _ members: [RemoteMember], part: Int = 1, parts: Int = 1
    ) -> String {
        ClusterMessage(
            origin: origin, sequence: sequence, kind: .snapshot(part: part, parts: parts),
            events: members.map { .joined(member: $0.id.member, visitor: $0.visitor, claimedAt: $0.claimedAt, nickname: $0.nickname) }
        ).encoded
    }

    private func member(_ server: Int64, _ id: UInt64, _ nickname: String, claimedAt: Int64 = 5, visitor: Int64 = 0) -> RemoteMember {
        RemoteMember(id: RemoteMember.ID(server: server, member: id), nickname: nickname, claimedAt: claimedAt, visitor: visitor)
    }

    private func local(_ id: UInt64, _ nickname: String, guest: Bool = false) -> LocalMember {
        LocalMember(id: ConnectionKey(id), nickname: nickname, visitor: Int64(id), claimedAt: 7, isGuestName: guest)
    }

    /// The events in `payloads` (decoded), in order.
    private func decoded(_ payloads: [String]) -> [ClusterEvent] {
        payloads.compactMap { ClusterMessage(decoding: $0) }.flatMap(\.events)
    }

    // MARK: - Contact

    /// Contact begins: the machine asks every server for its roster, sends its own, claims its names again,
    /// lists the live servers and waits for their snapshots; it is ready once each has come.
    func testContactBeganAsksForRostersAndIsReadyOnceEveryLiveServerSentItsOwn() {
        var machine = machine()
        XCTAssertEqual(
            machine.contactBegan(now: t0),
            [.report(.contactBegan), .reconcileClaims, .startSyncTimer(.seconds(3)), .listLiveServers(contact: 1)])
        XCTAssertTrue(machine.hasOutgoing)
        let sent = machine.flush(localMembers: [local(4, "alice")])
        XCTAssertEqual(sent.compactMap { ClusterMessage(decoding: $0)?.kind }, [.snapshot(part: 1, parts: 1), .events])
        XCTAssertEqual(decoded(sent), [.joined(member: 4, visitor: 4, claimedAt: 7, nickname: "alice"), .wantSnapshot(server: 0)])
        XCTAssertEqual(machine.liveServersListed([2, 3], contact: 1), [])
        XCTAssertEqual(
            machine.received(snapshot(2, 1, [member(2, 1, "bob")])),
            [.apply(.roster(server: 2, members: [member(2, 1, "bob")], announcingNewcomers: false))])
        XCTAssertEqual(
            machine.received(snapshot(3, 9, [])),
            [.apply(.roster(server: 3, members: [], announcingNewcomers: false)), .cancelSyncTimer, .ready])
        XCTAssertEqual(machine.syncTimerFired(), [], "the wait is over already")
    }

    /// A snapshot that arrives before the live servers are listed is not waited for again; the sync timer ends
    /// the wait for those that never send one, and readiness is said once.
    func testTheWaitForSnapshotsEndsWithTheLastOneOrTheTimerAndReadinessIsSaidOnce() {
        var machine = machine()
        _ = machine.contactBegan(now: t0)
        _ = machine.received(snapshot(2, 1, []))
        XCTAssertEqual(machine.liveServersListed([2], contact: 1), [.cancelSyncTimer, .ready])

        var waiting = self.machine()
        _ = waiting.contactBegan(now: t0)
        XCTAssertEqual(waiting.liveServersListed([2, 3], contact: 1), [])
        XCTAssertEqual(waiting.syncTimerFired(), [.cancelSyncTimer, .ready])
        _ = waiting.contactLost("gone")
        _ = waiting.contactBegan(now: at(10))
        XCTAssertEqual(waiting.syncTimerFired(), [.cancelSyncTimer], "ready was said already")
    }

    /// An answer about an earlier contact (the list of live servers) is not taken for the current one's.
    func testAListOfLiveServersForAnEarlierContactIsIgnored() {
        var machine = machine()
        _ = machine.contactBegan(now: t0)
        _ = machine.contactLost("gone")
        XCTAssertEqual(machine.contactBegan(now: at(5)).last, .listLiveServers(contact: 2))
        XCTAssertEqual(machine.liveServersListed([], contact: 1), [])
        XCTAssertEqual(machine.liveServersListed([], contact: 2), [.cancelSyncTimer, .ready])
    }

    /// Losing contact is told to the clients once per outage, and only when other servers were heard from; once
    /// contact is back and the rosters exchanged, that it is back. What was queued to send is dropped.
    func testContactLostIsToldOnceWhenThereAreOthersAndBackOnceSynced() {
        var alone = inContact()
        XCTAssertEqual(alone.contactLost("down"), [.report(.contactLost("down"))], "a lone server says nothing")

        var machine = inContact()
        _ = machine.received(events(2, 1, [.said(member: 1, text: "hi")]))
        XCTAssertTrue(machine.publish(.said(member: 3, text: "queued")))
        XCTAssertEqual(machine.contactLost("down"), [.report(.contactLost("down")), .apply(.contactLost)])
        XCTAssertEqual(machine.contactLost("down again"), [], "one outage")
        XCTAssertFalse(machine.hasOutgoing)
        XCTAssertFalse(machine.publish(.said(member: 3, text: "apart")), "nothing is queued out of contact")
        _ = machine.contactBegan(now: at(100))
        XCTAssertEqual(machine.liveServersListed([], contact: 2), [.cancelSyncTimer, .apply(.contactRestored)])
        XCTAssertEqual(decoded(machine.flush(localMembers: [])), [.wantSnapshot(server: 0)])
    }

    // MARK: - Receiving

    /// Every kind of event from another server becomes the remote change for it, in order; a private message
    /// for another server's member is not this server's business; a roster request for this server (or every
    /// server) sends the local roster at the end of the tick.
    func testEventsBecomeRemoteChangesInOrder() {
        var machine = inContact()
        let actions = machine.received(events(2, 1, [
            .joined(member: 5, visitor: 42, claimedAt: 9, nickname: "bob"),
            .renamed(member: 5, claimedAt: 10, nickname: "bobby"),
            .said(member: 5, text: "hello there"),
            .acted(member: 5, text: "waves"),
            .privateMessage(from: 5, toServer: 1, to: 3, text: "psst"),
            .privateMessage(from: 5, toServer: 3, to: 3, text: "not for us"),
            .left(member: 5, reason: "quit: bye"),
            .wantSnapshot(server: 3),
        ]))
        let bob = RemoteMember.ID(server: 2, member: 5)
        XCTAssertEqual(actions, [
            .apply(.joined(member(2, 5, "bob", claimedAt: 9, visitor: 42))),
            .apply(.renamed(member(2, 5, "bobby", claimedAt: 10))),
            .apply(.said(bob, .say, "hello there")),
            .apply(.said(bob, .me, "waves")),
            .apply(.privateMessage(from: bob, to: ConnectionKey(3), "psst")),
            .apply(.left(bob, shownAs: "quit: bye")),
        ])
        XCTAssertFalse(machine.hasOutgoing, "the request was for server 3")
        _ = machine.received(events(2, 2, [.wantSnapshot(server: 1)]))
        XCTAssertTrue(machine.hasOutgoing)
        let sent = machine.flush(localMembers: [local(3, "carol")])
        XCTAssertEqual(ClusterMessage(decoding: sent[0])?.kind, .snapshot(part: 1, parts: 1))
        XCTAssertEqual(decoded(sent), [.joined(member: 3, visitor: 3, claimedAt: 7, nickname: "carol")])
    }

    /// This server's own echoes (told by their prefix) and payloads that are not cluster messages change
    /// nothing.
    func testOwnEchoesAndForeignPayloadsAreNotApplied() {
        var machine = inContact()
        let own = events(1, 5, [.said(member: 1, text: "mine")])
        XCTAssertTrue(machine.isOwnEcho(own))
        XCTAssertEqual(machine.received(own), [])
        XCTAssertEqual(machine.received("hello from another program"), [.report(.notAMessage(bytes: 26))])
        XCTAssertFalse(machine.isOwnEcho(events(11, 5, [])), "server 11 is not server 1")
    }

    /// A repeat of a payload already seen is ignored; a gap in a server's sequence asks that server for its
    /// roster (whatever was missed) and sends this server's own (what was missed may have been a request for
    /// it), and what arrived is still applied.
    func testARepeatIsIgnoredAndAGapAsksThatServerForItsRoster() {
        var machine = inContact()
        _ = machine.received(events(2, 7, [.said(member: 1, text: "one")]))
        XCTAssertEqual(machine.received(events(2, 7, [.said(member: 1, text: "one")])), [])
        XCTAssertEqual(machine.received(events(2, 10, [.said(member: 1, text: "four")])), [
            .report(.missedMessages(server: 2, count: 2)),
            .apply(.said(RemoteMember.ID(server: 2, member: 1), .say, "four")),
        ])
        let sent = machine.flush(localMembers: [local(3, "carol")])
        XCTAssertEqual(sent.compactMap { ClusterMessage(decoding: $0)?.kind }, [.snapshot(part: 1, parts: 1), .events])
        XCTAssertEqual(decoded(sent), [.joined(member: 3, visitor: 3, claimedAt: 7, nickname: "carol"), .wantSnapshot(server: 2)])
    }

    /// A snapshot in parts is applied whole, once its last part is in, and only if every part came in order;
    /// otherwise it is dropped (and the next request brings it again).
    func testASnapshotInPartsIsAppliedWholeOrNotAtAll() {
        var machine = inContact()
        XCTAssertEqual(machine.received(snapshot(2, 1, [member(2, 1, "a")], part: 1, parts: 2)), [])
        XCTAssertEqual(
            machine.received(snapshot(2, 2, [member(2, 2, "b")], part: 2, parts: 2)),
            [.apply(.roster(server: 2, members: [member(2, 1, "a"), member(2, 2, "b")], announcingNewcomers: false))])
        XCTAssertEqual(machine.received(snapshot(3, 1, [member(3, 1, "c")], part: 2, parts: 2)), [], "no first part")
        XCTAssertEqual(machine.received(snapshot(3, 2, [member(3, 1, "c")], part: 1, parts: 2)), [])
        XCTAssertEqual(machine.received(snapshot(3, 4, [member(3, 2, "d")], part: 2, parts: 2)).first,
                       .report(.missedMessages(server: 3, count: 1)), "a part is missing: nothing is applied")
    }

    /// Falling behind (the transport dropped payloads): the clients are told at most every ten seconds (and
    /// only when someone is there to see it), and every server is asked for its roster, this server's own
    /// going with the request (a dropped payload may have asked for it) — at most once a second, a request
    /// held back going out when its second is up.
    func testFallingBehindAsksForRostersOnceASecondAndTellsTheClientsEveryTenSeconds() {
        var machine = inContact()
        XCTAssertEqual(
            machine.dropped(3, now: at(1_000), someoneToTell: false), [.report(.fellBehind(dropped: 3))])
        let sent = machine.flush(localMembers: [local(3, "carol")])
        XCTAssertEqual(decoded(sent), [.joined(member: 3, visitor: 3, claimedAt: 7, nickname: "carol"), .wantSnapshot(server: 0)])
        XCTAssertEqual(
            machine.dropped(1, now: at(1_500), someoneToTell: true),
            [.report(.fellBehind(dropped: 1)), .requestSnapshotsAt(at(2_000)), .apply(.fellBehind)])
        XCTAssertFalse(machine.hasOutgoing)
        XCTAssertEqual(
            machine.dropped(1, now: at(1_600), someoneToTell: true), [.report(.fellBehind(dropped: 1))],
            "the request is scheduled already, and the clients were told")
        XCTAssertEqual(machine.snapshotRequestDue(now: at(2_000)), [])
        XCTAssertEqual(machine.flush(localMembers: []).compactMap { ClusterMessage(decoding: $0)?.kind },
                       [.snapshot(part: 1, parts: 1), .events])
        XCTAssertEqual(machine.dropped(1, now: at(11_499), someoneToTell: true).contains(.apply(.fellBehind)), false)
        XCTAssertEqual(machine.dropped(1, now: at(11_500), someoneToTell: true).contains(.apply(.fellBehind)), true)
    }

    // MARK: - Sending

    /// A tick's events go out as one payload at its end, numbered on from the last; the producer gate follows
    /// the transport's backlog, and is let go when contact is lost.
    func testATicksEventsGoAsOnePayloadAndTheGateFollowsTheBacklog() throws {
        var machine = inContact()
        XCTAssertFalse(machine.hasOutgoing)
        for index in 0..<3 { XCTAssertTrue(machine.publish(.said(member: 1, text: "line \(index)"))) }
        let sent = machine.flush(localMembers: [])
        XCTAssertEqual(sent.count, 1)
        let message = try XCTUnwrap(ClusterMessage(decoding: sent[0]))
        XCTAssertEqual(message.sequence, 3, "after the start-up snapshot and request")
        XCTAssertEqual(machine.flush(localMembers: []), [])
        XCTAssertEqual(machine.sendBacklog(true), [.report(.sendingBacklogged(true)), .apply(.sendingBacklogged(true))])
        XCTAssertEqual(machine.sendBacklog(true), [])
        XCTAssertEqual(machine.contactLost("gone"), [.report(.contactLost("gone")), .report(.sendingBacklogged(false)),
                                                     .apply(.sendingBacklogged(false))])
    }

    /// At shutdown readiness is said (start-up waits no more), the sync timer goes, and nothing more is sent.
    func testShutdownReadiesAndStopsSending() {
        var machine = machine()
        _ = machine.contactBegan(now: t0)
        XCTAssertEqual(machine.shutdown(), [.cancelSyncTimer, .ready])
        XCTAssertFalse(machine.publish(.said(member: 1, text: "too late")))
        XCTAssertEqual(machine.snapshotRequestDue(now: at(5_000)), [])
        XCTAssertEqual(machine.statusTimerFired(now: at(60_000), remoteServers: [2]), [])
    }

    // MARK: - Other servers' health

    /// The status check asks about the servers whose members are held, and judges none late before a whole
    /// --server-timeout in contact; a late one is closed once (while the database judges it), then its
    /// members leave as `server lost`, and it is not heard until the database says it is live again — then it
    /// is asked for its roster, whose members are shown joining.
    func testALostServerLeavesIsNotHeardAndRejoinsWhenLiveAgain() {
        var machine = inContact(timeout: .seconds(15))
        _ = machine.received(events(2, 1, [.joined(member: 1, visitor: 3, claimedAt: 4, nickname: "bob")]))
        XCTAssertEqual(machine.statusTimerFired(now: at(1_000), remoteServers: [2]), [.checkServers(known: [2])])
        XCTAssertEqual(machine.statusTimerFired(now: at(2_000), remoteServers: [2]), [], "one check at a time")
        let late = ClusterRepository.ServerStatus(id: 2, stopped: false, late: true)
        XCTAssertEqual(machine.serversChecked([late]), [], "not a whole timeout in contact yet")
        _ = machine.statusTimerFired(now: at(15_000), remoteServers: [2])
        XCTAssertEqual(machine.serversChecked([late]), [.closeLostServer(2)])
        _ = machine.statusTimerFired(now: at(16_000), remoteServers: [2])
        XCTAssertEqual(machine.serversChecked([late]), [], "being judged already")
        XCTAssertEqual(machine.lostServerClosed(2, .closed(rows: 1)), [
            .report(.serverLost(2)), .report(.lostServerRowsClosed(server: 2, rows: 1)),
            .apply(.serverLeft(2, shownAs: "server lost")),
        ])
        XCTAssertEqual(machine.received(events(2, 2, [.said(member: 1, text: "anyone?")])), [], "not heard")
        XCTAssertEqual(machine.statusTimerFired(now: at(17_000), remoteServers: []), [.checkServers(known: [2])])
        XCTAssertEqual(
            machine.serversChecked([ClusterRepository.ServerStatus(id: 2, stopped: false, late: false)]),
            [.report(.serverRejoined(2))])
        XCTAssertEqual(decoded(machine.flush(localMembers: [])), [.wantSnapshot(server: 2)])
        XCTAssertEqual(
            machine.received(snapshot(2, 3, [member(2, 1, "bob", claimedAt: 4, visitor: 3)])),
            [.apply(.roster(server: 2, members: [member(2, 1, "bob", claimedAt: 4, visitor: 3)], announcingNewcomers: true))])
        XCTAssertEqual(machine.received(events(2, 4, [.said(member: 1, text: "back")])).count, 1, "heard again")
    }

    /// A late server whose heartbeat came back before the database marked it is kept; one that stopped leaves
    /// as `server shutdown`; a failed check or close is simply made again.
    func testALateServerThatCameBackIsKeptAndAStoppedOneLeavesAsShutdown() {
        var machine = inContact(timeout: .seconds(1))
        _ = machine.statusTimerFired(now: at(2_000), remoteServers: [2, 3])
        XCTAssertEqual(
            machine.serversChecked([ClusterRepository.ServerStatus(id: 2, stopped: false, late: true),
                                    ClusterRepository.ServerStatus(id: 3, stopped: true, late: false)]),
            [.closeLostServer(2), .apply(.serverLeft(3, shownAs: "server shutdown"))])
        XCTAssertEqual(machine.lostServerClosed(2, .alive), [.report(.lateServerAlive(2))])
        machine.serverCheckFailed()
        XCTAssertEqual(machine.statusTimerFired(now: at(3_000), remoteServers: [2]), [.checkServers(known: [2, 3])])
        XCTAssertEqual(machine.serversChecked([ClusterRepository.ServerStatus(id: 2, stopped: false, late: true)]),
                       [.closeLostServer(2)])
        machine.lostServerCloseFailed(2)
        _ = machine.statusTimerFired(now: at(4_000), remoteServers: [2])
        XCTAssertEqual(machine.serversChecked([ClusterRepository.ServerStatus(id: 2, stopped: false, late: true)]),
                       [.closeLostServer(2)], "judged again after a failure")
    }

    // MARK: - Names

    /// The database holds a claim for a member once its claim succeeded (or a reconcile kept it); releasing
    /// asks the database only then, or while a claim is on its way. A reconcile takes the name from those
    /// whose claim was later than another server's.
    func testClaimsAreTrackedAndAReconcileTakesLostNames() {
        var machine = inContact()
        let alice = ConnectionKey(1)
        XCTAssertFalse(machine.release(alice), "nothing claimed")
        machine.claimStarted(alice)
        XCTAssertTrue(machine.pendingClaims.contains(alice))
        XCTAssertTrue(machine.release(alice), "a claim on its way")
        machine.claimFinished(alice, held: true)
        XCTAssertFalse(machine.pendingClaims.contains(alice))
        XCTAssertTrue(machine.release(alice))
        XCTAssertFalse(machine.release(alice), "released already")
        machine.claimStarted(alice)
        machine.claimFinished(alice, held: false)
        XCTAssertFalse(machine.release(alice), "refused: nothing to release")

        XCTAssertEqual(machine.rejoined(), [.reconcileClaims])
        XCTAssertEqual(
            machine.claimsReconciled([local(1, "alice"), local(2, "bob")], lost: [2]),
            [.apply(.nameLost(ConnectionKey(2), nickname: "bob"))])
        XCTAssertTrue(machine.release(ConnectionKey(1)), "alice holds hers again")
        XCTAssertFalse(machine.release(ConnectionKey(2)))
    }
}
