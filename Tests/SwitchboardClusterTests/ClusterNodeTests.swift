import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import SwitchboardHistory
import XCTest

@testable import SwitchboardCluster

/// ``ClusterNode``, the thin driver: it carries out ``ClusterStateMachine``'s actions — the transport, the
/// directory, timers on its loop — and reaches the chat only through ``ClusterHost`` (here a recording stand-in,
/// no hub). An `EmbeddedEventLoop` plays the hub's loop, so time is the test's.
final class ClusterNodeTests: XCTestCase {
    private let loop = EmbeddedEventLoop()
    private let host = RecordingHost()
    private let transport = QueueTransport()
    private lazy var directory = AnsweringDirectory(loop: loop)

    private func startedNode(live: [Int64] = []) -> (node: ClusterNode, ready: () -> Bool, work: () -> Int) {
        directory.live = live
        var logger = Logger(label: "cluster-node-test")
        logger.logLevel = .critical
        let node = ClusterNode(
            serverID: 1, host: host, transport: transport, directory: directory, serverTimeout: .seconds(15),
            eventLoop: loop, logger: logger)
        var work = 0
        let ready = NIOLockedValueBox(false)
        node.start(onWork: { work += 1 }).whenSuccess { ready.withLockedValue { $0 = true } }
        transport.deliver(.connected)
        loop.run()
        while node.applyNext() != nil {}
        return (node, { ready.withLockedValue { $0 } }, { work })
    }

    private func payload(
        _ origin: Int64, _ sequence: UInt64, _ events: [ClusterEvent], kind: ClusterMessage.Kind = .events
    ) -> String {
        ClusterMessage(origin: origin, sequence: sequence, kind: kind, events: events).encoded
    }

    /// In contact, the node claims the local names again (never guest names), lists the live servers, sends its
    /// roster and a request for everyone's at the end of the tick, and is ready once each live server's roster
    /// is in; what another server says reaches the host as changes, charged at its bytes; its own echo costs
    /// nothing.
    func testContactRostersAndPayloadsGoThroughTheMachineToTheHost() throws {
        host.localMembers = [
            LocalMember(id: ConnectionKey(1), nickname: "alice", visitor: 5, claimedAt: 9, isGuestName: false),
            LocalMember(id: ConnectionKey(2), nickname: "guest6", visitor: 6, claimedAt: 9, isGuestName: true),
        ]
        let (node, ready, work) = startedNode(live: [2])
        XCTAssertGreaterThan(work(), 1, "woken for the inbox, and told that something waits to be sent")
        XCTAssertEqual(directory.reconciled.map(\.nickname), ["alice"])
        XCTAssertTrue(node.inContact)
        XCTAssertTrue(node.hasOutgoing)
        node.flush()
        XCTAssertEqual(transport.sent.compactMap { ClusterMessage(decoding: $0)?.kind }, [.snapshot(part: 1, parts: 1), .events])
        XCTAssertFalse(ready())

        let bob = RemoteMember(id: RemoteMember.ID(server: 2, member: 3), nickname: "bob", claimedAt: 4, visitor: 7)
        let roster = payload(2, 1, [.joined(member: 3, visitor: 7, claimedAt: 4, nickname: "bob")], kind: .snapshot(part: 1, parts: 1))
        let line = payload(2, 2, [.said(member: 3, text: "hello")])
        transport.deliver(.payload(roster), .payload(line), .payload(transport.sent[1]))
        loop.run()
        XCTAssertEqual(node.applyNext(), roster.utf8.count)
        XCTAssertTrue(ready(), "every live server's roster is in")
        XCTAssertEqual(node.applyNext(), line.utf8.count)
        XCTAssertEqual(node.applyNext(), 0, "its own echo")
        XCTAssertNil(node.applyNext())
        XCTAssertEqual(host.changes, [
            .roster(server: 2, members: [bob], announcingNewcomers: false), .said(bob.id, .say, "hello"),
        ])
    }

    /// The wait for the live servers' rosters ends with the sync timer.
    func testTheSyncTimerEndsTheWaitForRostersThatNeverCome() {
        let (_, ready, _) = startedNode(live: [2, 3])
        loop.advanceTime(by: ClusterNode.syncWait - .milliseconds(1))
        XCTAssertFalse(ready())
        loop.advanceTime(by: .milliseconds(1))
        XCTAssertTrue(ready())
    }

    /// The transport's backlog turns the host's producer gate on after a flush finds it, and off once the
    /// transport wakes the node with it drained.
    func testTheBacklogTurnsTheHostsGateOnAndOff() {
        let (node, _, _) = startedNode()
        node.flush()
        transport.isBacklogged = true
        XCTAssertTrue(node.publish(.said(member: 1, text: "one more")))
        node.flush()
        XCTAssertEqual(host.changes, [.sendingBacklogged(true)])
        transport.isBacklogged = false
        transport.wake?()
        loop.run()
        XCTAssertEqual(host.changes, [.sendingBacklogged(true), .sendingBacklogged(false)])
    }

    /// Every second in contact the node asks the directory about the servers whose members the host holds;
    /// once one has been late for a whole --server-timeout it has the directory close it, naming its rows as the
    /// host knows its members, and the host sees them leave.
    func testALateServerIsClosedWithItsMembersNamesAndTheyLeave() {
        let (node, _, _) = startedNode()
        node.flush()
        let bob = RemoteMember(id: RemoteMember.ID(server: 2, member: 3), nickname: "bob", claimedAt: 4, visitor: 7)
        host.remote = [2: [bob, RemoteMember(id: RemoteMember.ID(server: 2, member: 4), nickname: "nobody", claimedAt: 4)]]
        directory.statuses = [ClusterRepository.ServerStatus(id: 2, stopped: false, late: true)]
        loop.advanceTime(by: .seconds(1))
        XCTAssertEqual(directory.asked.last, [2])
        XCTAssertEqual(directory.closed.count, 0, "not a whole timeout in contact yet")
        loop.advanceTime(by: .seconds(14))
        XCTAssertEqual(directory.closed.map(\.id), [2])
        XCTAssertEqual(directory.closed.first?.names.map(\.nickname), ["bob"], "rows are named by their visitor number")
        XCTAssertEqual(host.changes, [.serverLeft(2, shownAs: "server lost")])
    }

    /// Claims: the node tells the directory to release a member's name only when it holds one (or one is on
    /// its way).
    func testReleasingAsksTheDirectoryOnlyForNamesHeld() throws {
        let (node, _, _) = startedNode()
        node.release(ConnectionKey(7))
        XCTAssertEqual(directory.released, [])
        XCTAssertTrue(try node.claim("zed", for: ConnectionKey(7), at: 1).wait())
        XCTAssertFalse(node.isClaimPending(ConnectionKey(7)))
        node.release(ConnectionKey(7))
        XCTAssertEqual(directory.released, [7])
    }
}

/// The chat as the cluster sees it: what it applied, and a view the test sets.
private final class RecordingHost: ClusterHost {
    var changes: [RemoteChange] = []
    var localMembers: [LocalMember] = []
    var remote: [Int64: [RemoteMember]] = [:]
    var hasLocalMembers: Bool { !localMembers.isEmpty }
    var remoteServers: Set<Int64> { Set(remote.keys) }
    func remoteMembers(of server: Int64) -> [RemoteMember] { remote[server] ?? [] }
    func apply(_ change: RemoteChange) { changes.append(change) }
}

/// A transport that hands over what the test delivers.
///
/// `@unchecked Sendable`: test-only; every use is on the test thread (the embedded loop runs there).
private final class QueueTransport: ClusterTransport, @unchecked Sendable {
    var wake: (@Sendable () -> Void)?
    var inbox: [ClusterTransportEvent] = []
    var sent: [String] = []
    var isBacklogged = false

    func start(wake: @escaping @Sendable () -> Void) { self.wake = wake }
    func take() -> [ClusterTransportEvent] {
        defer { inbox.removeAll() }
        return inbox
    }
    func send(_ payload: String) -> Bool {
        sent.append(payload)
        return true
    }
    func stop() async {}

    func deliver(_ events: ClusterTransportEvent...) {
        let wasEmpty = inbox.isEmpty
        inbox += events
        if wasEmpty { wake?() }
    }
}

/// A directory that answers at once, and records what it was asked.
private final class AnsweringDirectory: ClusterDirectory {
    let loop: EmbeddedEventLoop
    var live: [Int64] = []
    var statuses: [ClusterRepository.ServerStatus] = []
    var reconciled: [ClusterRepository.Claim] = []
    var released: [UInt64] = []
    var asked: [[Int64]] = []
    var closed: [(id: Int64, names: [(visitor: Int64, nickname: String)])] = []

    init(loop: EmbeddedEventLoop) { self.loop = loop }

    func claim(_ claim: ClusterRepository.Claim) -> EventLoopFuture<Bool> { loop.makeSucceededFuture(true) }
    func release(connection: UInt64) { released.append(connection) }
    func reconcile(_ claims: [ClusterRepository.Claim]) -> EventLoopFuture<[UInt64]> {
        reconciled += claims
        return loop.makeSucceededFuture([])
    }
    func serverStatuses(known: [Int64]) -> EventLoopFuture<[ClusterRepository.ServerStatus]> {
        asked.append(known)
        return loop.makeSucceededFuture(statuses)
    }
    func closeLostServer(_ id: Int64, names: [(visitor: Int64, nickname: String)]) -> EventLoopFuture<ClusterRepository.LostServer> {
        closed.append((id, names))
        return loop.makeSucceededFuture(.closed(rows: names.count))
    }
    func liveServerIDs() -> EventLoopFuture<[Int64]> { loop.makeSucceededFuture(live) }
}
