import NIOCore
@testable import SwitchboardChat
import XCTest

/// Hubs as one cluster over an in-memory NOTIFY bus and name table (``InMemoryCluster``): what clients on
/// different servers see of each other, what they see when contact is lost and back, when a server falls
/// behind or is lost, and how names are decided. The same paths run on PostgreSQL in
/// `ClusterEndToEndTests`.
final class ClusterHubTests: XCTestCase {
    private func joined(_ server: InMemoryCluster.Server, _ cluster: InMemoryCluster) throws -> ChatTestHarness.Client {
        let client = try server.harness.connect()
        cluster.settle()
        return client
    }

    /// Reads what every client was sent, so the next assertion sees only what follows.
    private func drain(_ clients: [ChatTestHarness.Client]) throws {
        for client in clients { _ = try client.lines() }
    }

    /// A line said on one server reaches every client on the others once, in order; counts, /who and
    /// welcomes count everyone on every server.
    func testLinesNoticesAndCountsAreClusterWide() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        let alice = try joined(a, cluster)
        XCTAssertEqual(try alice.lines().first?.contains("1 client connected"), true)
        let bob = try joined(b, cluster)
        let welcome = try XCTUnwrap(try bob.lines().first)
        XCTAssertTrue(welcome.contains("2 clients connected"), welcome)
        let aliceSaw = try alice.lines()
        XCTAssertEqual(aliceSaw.count, 1)
        XCTAssertTrue(aliceSaw[0].hasSuffix("joined (2 clients connected)"), "\(aliceSaw)")

        try alice.send("/nick alice\r\none\r\ntwo\r\n/me waves\r\n")
        cluster.settle()
        XCTAssertEqual(try bob.lines().suffix(3), ["<alice> one", "<alice> two", "* alice waves"])
        try bob.send("/who\r\n/count\r\n")
        cluster.settle()
        let lines = try bob.lines()
        XCTAssertTrue(lines.contains { $0.hasPrefix("* 2 connected: alice, guest") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("* 2 clients connected") }, "\(lines)")
    }

    /// /msg reaches a nick on another server, and only that client.
    func testPrivateMessagesCrossServers() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        let alice = try joined(a, cluster)
        let bob = try joined(b, cluster)
        let carol = try joined(b, cluster)
        try alice.send("/nick alice\r\n")
        try bob.send("/nick bob\r\n")
        cluster.settle()
        try drain([alice, bob, carol])
        try alice.send("/msg BOB psst\r\n")
        cluster.settle()
        XCTAssertEqual(try alice.lines(), ["-> bob: psst"])
        XCTAssertEqual(try bob.lines(), ["*alice* psst"])
        XCTAssertEqual(try carol.lines(), [])
    }

    /// A client's commands take effect in the order it sent them, even when the database decides a /nick:
    /// the input after it waits for the decision.
    func testCommandsAfterANickWaitForItsDecision() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let alice = try joined(a, cluster)
        _ = try alice.lines()
        a.directory.holdsAnswers = true
        try alice.send("/nick alice\r\n/who\r\nhello\r\n")
        cluster.settle()
        XCTAssertEqual(try alice.lines(), [], "nothing happens before the database answers")
        a.directory.answerHeld()
        cluster.settle()
        XCTAssertEqual(try alice.lines(), ["* guest1 is now known as alice", "* 1 connected: alice"])
    }

    /// The database decides names: two servers asking for one name at once, exactly one gets it.
    func testOneNameOneHolderAcrossServers() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        let x = try joined(a, cluster)
        let y = try joined(b, cluster)
        try drain([x, y])
        try x.send("/nick Zed\r\n")
        try y.send("/nick zed\r\n")
        cluster.settle()
        let (xs, ys) = (try x.lines(), try y.lines())
        let won = [xs, ys].filter { $0.contains { $0.hasSuffix("is now known as Zed") || $0.hasSuffix("is now known as zed") } }
        let refused = (xs + ys).filter { $0.hasPrefix("! nickname") && $0.hasSuffix("is already taken") }
        XCTAssertEqual(refused.count, 1, "\(xs) \(ys)")
        XCTAssertEqual(won.count, 2, "both clients see the winner's rename: \(xs) \(ys)")
        XCTAssertEqual(cluster.claims.count, 1)
    }

    /// Contact lost: one notice, local chat goes on; back: one notice with the count, rosters re-synced,
    /// what changed meanwhile is known.
    func testContactLostAndBack() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        let alice = try joined(a, cluster)
        let alice2 = try joined(a, cluster)
        let bob = try joined(b, cluster)
        try drain([alice, alice2, bob])
        a.transport.disconnect()
        cluster.settle()
        XCTAssertEqual(try alice.lines(), ["* lost contact with the other servers"])
        a.transport.disconnect()  // a second report of the same outage says nothing more
        cluster.settle()
        try alice.send("local\r\n")
        cluster.settle()
        XCTAssertTrue(try alice2.lines().contains { $0.hasSuffix("> local") }, "local chat goes on")
        XCTAssertEqual(try bob.lines(), [], "nothing crosses while apart")
        let carol = try joined(b, cluster)  // joins while apart
        _ = carol
        a.transport.connect()
        cluster.settle()
        XCTAssertEqual(try alice.lines(), ["* back in contact with the other servers (4 clients connected)"])
        try bob.send("/count\r\n")
        cluster.settle()
        XCTAssertTrue(try bob.lines().contains { $0.hasPrefix("* 4 clients connected") })
    }

    /// A name taken on both sides while apart: the later claim becomes its guest name, is told so, and
    /// everyone sees the rename.
    func testANameTakenOnBothSidesGoesToTheEarlierClaim() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        let early = try joined(a, cluster)
        let late = try joined(b, cluster)
        try drain([early, late])
        a.transport.disconnect()
        b.transport.disconnect()
        a.directory.isDown = true
        b.directory.isDown = true
        cluster.settle()
        try early.send("/nick sam\r\n")
        cluster.settle()
        try late.send("/nick Sam\r\n")
        cluster.settle()
        try drain([early, late])
        a.directory.isDown = false
        b.directory.isDown = false
        b.transport.connect()  // the later claim's server comes back first
        cluster.settle()
        a.transport.connect()
        cluster.settle()
        let lateSaw = try late.lines()
        XCTAssertTrue(lateSaw.contains { $0.hasPrefix("! Sam was claimed earlier on another server") }, "\(lateSaw)")
        XCTAssertTrue(lateSaw.contains { $0.hasPrefix("* Sam is now known as guest") }, "\(lateSaw)")
        // The earlier side never saw the other Sam (it was settled before the rosters reached it).
        XCTAssertEqual(try early.lines(), ["* back in contact with the other servers (2 clients connected)"])
        XCTAssertEqual(cluster.claims["sam"]?.server, 1)
        try late.send("/who\r\n")
        cluster.settle()
        XCTAssertTrue(try late.lines().contains { $0.hasPrefix("* 2 connected: guest") && $0.hasSuffix(", sam") })
    }

    /// Servers A (alice) and B (bob), B holding at most three waiting payloads; `overflowB` has A say five
    /// lines, each in its own tick, none taken by B in between (B holds three, drops two), then settles.
    private func serverBWithAnInboxOfThree() throws -> (
        cluster: InMemoryCluster, b: InMemoryCluster.Server, bob: ChatTestHarness.Client, overflowB: () throws -> Void
    ) {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        let alice = try joined(a, cluster)
        let bob = try joined(b, cluster)
        try drain([alice, bob])
        b.transport.maximumInbox = 3
        return (cluster, b, bob, {
            for index in 0..<5 {
                try alice.send("line \(index)\r\n")
                a.harness.loop.run()
            }
            cluster.settle()
        })
    }

    /// A server that falls behind drops what it cannot hold, tells its clients once, and asks for the
    /// rosters again, rather than growing without bound.
    func testAServerThatFallsBehindDropsWithANotice() throws {
        let (cluster, _, bob, overflowB) = try serverBWithAnInboxOfThree()
        let before = cluster.published.count
        try overflowB()
        let lines = try bob.lines()
        XCTAssertEqual(lines.filter { $0.hasPrefix("<") }.count, 3, "\(lines)")
        XCTAssertEqual(lines.filter { $0.hasPrefix("! this server fell behind") }.count, 1, "\(lines)")
        XCTAssertTrue(cluster.published[before...].contains { $0.from == 2 && $0.payload.contains("\nW 0") },
                      "it asks for every roster again")
    }

    /// Falling behind again within a second of the last roster request (its answers were what overflowed)
    /// still asks again, once the second is up: the rosters are never left out of step for good.
    func testFallingBehindAgainWithinASecondAsksForTheRostersOnceTheSecondIsUp() throws {
        let (cluster, b, bob, overflowB) = try serverBWithAnInboxOfThree()
        func requestsFromB() -> Int {
            cluster.published.filter { $0.from == 2 && $0.payload.contains("\nW 0") }.count
        }
        let before = requestsFromB()  // the request made when contact began
        try overflowB()
        XCTAssertEqual(requestsFromB(), before + 1)
        try overflowB()  // within the same second
        XCTAssertEqual(requestsFromB(), before + 1, "at most one request a second")
        b.harness.loop.advanceTime(by: .milliseconds(999))
        cluster.settle()
        XCTAssertEqual(requestsFromB(), before + 1, "at most one request a second")
        b.harness.loop.advanceTime(by: .milliseconds(1))
        cluster.settle()
        XCTAssertEqual(requestsFromB(), before + 2, "the held-back request goes out once the second is up")
        try bob.send("/count\r\n")
        cluster.settle()
        XCTAssertTrue(try bob.lines().contains { $0.hasPrefix("* 2 clients connected") })
    }

    /// A server whose heartbeat is late: after --server-timeout in contact, its members leave as
    /// `server lost` on the others; one that stopped: as `server shutdown`.
    func testMembersOfALostServerLeave() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        let c = cluster.addServer(3)
        let alice = try joined(a, cluster)
        _ = try joined(b, cluster)
        _ = try joined(c, cluster)
        try drain([alice])
        cluster.late.insert(2)
        cluster.stopped.insert(3)
        a.harness.loop.advanceTime(by: .seconds(16))
        cluster.settle()
        let lines = try alice.lines()
        XCTAssertTrue(lines.contains { $0.hasSuffix("left (server lost) (2 clients connected)") || $0.hasSuffix("left (server lost) (1 client connected)") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("left (server shutdown)") }, "\(lines)")
        XCTAssertEqual(a.hub.connectedCount, 1)
    }

    /// Lines from the other servers are charged to the fan-out budget like local ones: a backlog is applied a
    /// budget at a time, in order, with the loop serving timers and newcomers in between (here a newcomer's
    /// welcome comes before most of the backlog), never all at once.
    func testLinesFromOtherServersAreAppliedABudgetAtATime() throws {
        var noFloodControl = ChatConfiguration()
        noFloodControl.floodRate = 0
        var smallBudget = noFloodControl
        smallBudget.fanOutBytesPerTick = 300
        smallBudget.fanOutBytesPerRecipient = 0
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1, configuration: noFloodControl)
        let b = cluster.addServer(2, configuration: smallBudget)
        let alice = try joined(a, cluster)
        let bob = try joined(b, cluster)
        try drain([alice, bob])
        for index in 0..<40 {
            try alice.send("line \(index)\r\n")
            a.harness.loop.run()  // a tick of its own: a payload of its own
        }
        var timerRan = false
        b.harness.loop.scheduleTask(in: TickScheduler.resumeDelay) { timerRan = true }
        cluster.settle()  // B is woken once and takes what its loop may do in one turn
        let first = try bob.lines()
        XCTAssertGreaterThan(first.count, 0)
        XCTAssertLessThan(first.count, 20, "one turn applies one budget's worth")
        let carol = try b.harness.connect()
        XCTAssertEqual(try carol.lines().first?.hasPrefix("* Welcome, "), true, "the newcomer does not wait for the backlog")
        var all = first
        for _ in 0..<100 where all.count < 40 {
            b.harness.loop.advanceTime(by: TickScheduler.resumeDelay)
            all += try bob.lines().filter { $0.hasPrefix("<") }
        }
        XCTAssertTrue(timerRan)
        XCTAssertEqual(all, (0..<40).map { "<guest1> line \($0)" }, "every line, in order")
    }

    /// A server taken for lost (its heartbeat was late) may not know it and go on talking: it is not heard
    /// until the database says it is live again (its heartbeat rejoined it); then the others ask for its roster
    /// and show its members joining again, and its lines cross again.
    func testAServerTakenForLostIsNotHeardUntilItIsBackThenItsMembersRejoin() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        let alice = try joined(a, cluster)
        let bob = try joined(b, cluster)
        try bob.send("/nick bob\r\n")
        cluster.settle()
        try drain([alice, bob])
        cluster.late.insert(2)
        a.harness.loop.advanceTime(by: .seconds(16))
        cluster.settle()
        XCTAssertEqual(try alice.lines(), ["* bob left (server lost) (1 client connected)"])
        try bob.send("anyone there?\r\n")
        cluster.settle()
        XCTAssertEqual(try alice.lines(), [], "not heard while taken for lost")
        a.harness.loop.advanceTime(by: .seconds(3))
        cluster.settle()
        XCTAssertEqual(try alice.lines(), [], "still marked stopped: still out")

        cluster.stopped.remove(2)  // B's heartbeat made its row live again
        b.hub.cluster?.rejoined()
        a.harness.loop.advanceTime(by: .seconds(1))
        cluster.settle()
        XCTAssertEqual(try alice.lines(), ["* bob joined (2 clients connected)"])
        try bob.send("back\r\n")
        cluster.settle()
        XCTAssertEqual(try alice.lines(), ["<bob> back"])
        try alice.send("/who\r\n")
        cluster.settle()
        XCTAssertEqual(try alice.lines().last?.hasPrefix("* 2 connected: bob, guest"), true)
    }

    /// A server judged late whose heartbeat comes back before the database marks it (the judgement waited on
    /// a busy loop or pool) is kept: the database decides again in the statement that would mark it.
    func testALateServerWhoseHeartbeatCameBackBeforeItWasMarkedIsKept() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        let alice = try joined(a, cluster)
        _ = try joined(b, cluster)
        try drain([alice])
        cluster.late.insert(2)
        a.directory.beforeMarkingLost = { cluster.late.remove($0) }
        a.harness.loop.advanceTime(by: .seconds(16))
        cluster.settle()
        XCTAssertEqual(try alice.lines(), [])
        XCTAssertEqual(a.hub.connectedCount, 2)
    }

    /// `/count`'s total starts again from the database's count at every heartbeat: joins a server missed
    /// (dropped messages) stop mattering, and what it heard after the count was read is added on top.
    func testTheVisitTotalStartsAgainFromTheDatabaseCountAtEachHeartbeat() throws {
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1)
        let b = cluster.addServer(2)
        b.transport.maximumInbox = 1
        for _ in 0..<3 {
            _ = try a.harness.connect()
            a.harness.loop.run()
        }
        cluster.settle()
        XCTAssertEqual(a.hub.totalVisits, 3)
        XCTAssertEqual(b.hub.totalVisits, 1, "two joins dropped")
        let tally = b.hub.visitsHeardTally.withLockedValue { $0 }
        b.transport.maximumInbox = .max
        _ = try a.harness.connect()  // heard by B after the database counted A's three
        cluster.settle()
        b.hub.visitsElsewhereCounted(3, tallyAtRead: tally)
        XCTAssertEqual(b.hub.totalVisits, 4)
        XCTAssertEqual(a.hub.totalVisits, 4)
        _ = try b.harness.connect()
        cluster.settle()
        XCTAssertEqual(b.hub.totalVisits, 5)
        XCTAssertEqual(a.hub.totalVisits, 5)
    }

    /// While what this server sends the others is backlogged, clients that keep talking are held (their input
    /// waits, unread) after their share of lines — public lines and private messages to another server's
    /// member alike — and go on once it drains; nothing they said is dropped, and others chat on meanwhile.
    func testABackloggedClusterHoldsBackClientsThatKeepTalkingUntilItDrains() throws {
        var noFloodControl = ChatConfiguration()
        noFloodControl.floodRate = 0
        let cluster = InMemoryCluster()
        let a = cluster.addServer(1, configuration: noFloodControl)
        let b = cluster.addServer(2, configuration: noFloodControl)
        let alice = try joined(a, cluster)
        let carol = try joined(a, cluster)
        let bob = try joined(b, cluster)
        try bob.send("/nick bob\r\n")
        cluster.settle()
        try drain([alice, carol, bob])
        a.transport.isBacklogged = true
        try alice.send("first\r\n")  // goes out, and at the end of its tick the cluster finds the backlog
        cluster.settle()
        let share = ChatSession.linesPerBehindEpisode
        try alice.send((0..<40).map { "line \($0)\r\n" }.joined())
        try carol.send("/msg bob " + (0..<40).map { "psst \($0)" }.joined(separator: "\r\n/msg bob ") + "\r\n")
        cluster.settle()
        var heard = try bob.lines()
        XCTAssertEqual(heard.filter { $0.hasPrefix("<guest1> ") }.count, 1 + share, "alice is held after her share")
        XCTAssertEqual(heard.filter { $0.hasPrefix("*guest2* ") }.count, share, "so is carol's /msg flood")
        try alice.send("/who\r\n")  // queued behind her held lines: answered only once she goes on
        cluster.settle()
        XCTAssertFalse(try alice.lines().contains { $0.contains(" connected: ") })

        a.transport.catchUp()
        cluster.settle()
        heard += try bob.lines()
        XCTAssertEqual(heard.filter { $0.hasPrefix("<guest1> ") }, ["<guest1> first"] + (0..<40).map { "<guest1> line \($0)" })
        XCTAssertEqual(heard.filter { $0.hasPrefix("*guest2* ") }, (0..<40).map { "*guest2* psst \($0)" })
        XCTAssertTrue(try alice.lines().contains { $0.contains(" connected: ") })
    }
}
