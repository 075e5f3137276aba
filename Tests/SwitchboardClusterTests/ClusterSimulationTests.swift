import NIOCore
import SwitchboardHistory
import SwitchboardTestSupport
import XCTest

@testable import SwitchboardCluster

/// Three ``ClusterStateMachine``s exchanging payloads over a simulated bus — members joining, renaming,
/// talking and leaving on each, payloads dropped, contact lost and regained, timers firing — in seeded random
/// sequences, the way `RosterTests` drives the roster. No database, socket or event loop: the test plays
/// transport, directory, timers and hubs. Invariants hold at every step, and once the bus is fair again every
/// server's view of the others' members is exactly their rosters.
final class ClusterSimulationTests: XCTestCase {
    func testRandomSequencesKeepTheInvariantsAndConvergeOnceTheBusIsFair() throws {
        for seed in UInt64(1)...150 {
            var random = SplitMix64(seed: seed)
            let bus = Bus(servers: [1, 2, 3])
            for _ in 0..<300 {
                bus.step(&random, dropping: true)
                if let problem = bus.problem { return XCTFail("seed \(seed): \(problem)") }
            }
            bus.settle()
            if let problem = bus.problem { return XCTFail("seed \(seed): \(problem)") }
            for server in bus.servers.values {
                for other in bus.servers.values where other.id != server.id {
                    XCTAssertEqual(
                        server.view[other.id, default: [:]].mapValues(\.nickname), other.members.mapValues(\.nickname),
                        "seed \(seed): server \(server.id)'s view of server \(other.id)")
                }
                XCTAssertEqual(server.readyCount, 1, "seed \(seed): server \(server.id) is ready once")
            }
        }
    }
}

/// One simulated server: its machine, its local members, and its view of the others built from the changes
/// the machine applies (as the hub's roster would hold them).
private final class SimulatedServer {
    let id: Int64
    var machine: ClusterStateMachine
    /// Local members that joined: id → (name, when claimed).
    var members: [UInt64: (nickname: String, claimedAt: Int64)] = [:]
    var nextMember: UInt64 = 1
    /// The others' members as applied here.
    var view: [Int64: [UInt64: RemoteMember]] = [:]
    /// The transport is in contact (the bus delivers to it and takes from it).
    var connected = false
    var inbox: [ClusterTransportEvent] = []
    var syncTimer: NIODeadline?
    var snapshotRequest: NIODeadline?
    var pendingListings: [UInt64] = []
    var readyCount = 0
    /// The last contact notice applied: `true` lost, `false` restored.
    var lastContactNotice: Bool?
    /// The last sequence number seen sent, to check each server numbers its payloads one by one.
    var lastSent: UInt64 = 0

    init(id: Int64) {
        self.id = id
        machine = ClusterStateMachine(configuration: .init(serverID: id, serverTimeout: .seconds(15)))
    }

    var localMembers: [LocalMember] {
        members.map { LocalMember(id: ConnectionKey($0.key), nickname: $0.value.nickname, visitor: Int64($0.key),
                                  claimedAt: $0.value.claimedAt, isGuestName: false) }
    }
}

/// The bus: PostgreSQL's one notification queue as the servers in contact see it.
private final class Bus {
    var servers: [Int64: SimulatedServer] = [:]
    var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private var dropping = false
    private var random = SplitMix64(seed: 0)
    /// The first broken invariant, if any.
    var problem: String?

    init(servers ids: [Int64]) {
        for id in ids { servers[id] = SimulatedServer(id: id) }
        for server in servers.values { connect(server) }
    }

    private var ordered: [SimulatedServer] { servers.keys.sorted().map { servers[$0]! } }

    func step(_ random: inout SplitMix64, dropping: Bool) {
        self.dropping = dropping
        self.random = random
        defer { random = self.random }
        let server = ordered[Int(self.random.next() % 3)]
        switch self.random.next() % 12 {
        case 0, 1:
            let member = server.nextMember
            server.nextMember += 1
            let name = "guest\(server.id)x\(member)"
            let time = Int64(now.uptimeNanoseconds / 1_000)
            server.members[member] = (name, time)
            _ = server.machine.publish(.joined(member: member, visitor: Int64(member), claimedAt: time, nickname: name))
        case 2:
            if let member = server.members.keys.sorted().first(where: { _ in self.random.next() % 2 == 0 }) {
                server.members[member] = nil
                _ = server.machine.publish(.left(member: member, reason: "quit"))
            }
        case 3:
            if let member = server.members.keys.sorted().first {
                let name = "n\(server.id)x\(self.random.next() % 1000)"
                let time = Int64(now.uptimeNanoseconds / 1_000)
                server.members[member] = (name, time)
                _ = server.machine.publish(.renamed(member: member, claimedAt: time, nickname: name))
            }
        case 4:
            if let member = server.members.keys.sorted().first {
                _ = server.machine.publish(.said(member: member, text: "line \(self.random.next() % 100)"))
            }
        case 5, 6:
            flush(server)
        case 7, 8:
            deliver(server)
        case 9:
            if server.connected && dropping && self.random.next() % 4 == 0 {
                server.connected = false
                server.inbox.append(.disconnected("simulated outage"))
            } else if !server.connected {
                connect(server)
            }
        case 10:
            advance(by: .milliseconds(Int64(self.random.next() % 1_500)))
        default:
            answerListings(server)
        }
    }

    /// Reconnects everyone, stops dropping, and runs ticks, deliveries and timers until nothing moves.
    func settle() {
        dropping = false
        for server in ordered where !server.connected { connect(server) }
        for _ in 0..<20 {
            for server in ordered {
                answerListings(server)
                flush(server)
            }
            for server in ordered { deliver(server) }
            advance(by: .seconds(1))
        }
    }

    private func connect(_ server: SimulatedServer) {
        server.connected = true
        server.inbox.append(.connected)
    }

    private func advance(by amount: TimeAmount) {
        now = now + amount
        for server in ordered {
            if let due = server.syncTimer, due <= now {
                server.syncTimer = nil
                perform(server.machine.syncTimerFired(), on: server)
            }
            if let due = server.snapshotRequest, due <= now {
                server.snapshotRequest = nil
                perform(server.machine.snapshotRequestDue(now: now), on: server)
            }
        }
    }

    /// The end of a tick on `server`: what it sends reaches every server in contact (itself included), or —
    /// when dropping — is lost at some of them (their inbox reports the drop in its place).
    private func flush(_ server: SimulatedServer) {
        let payloads = server.machine.flush(localMembers: server.localMembers)
        for payload in payloads {
            if let message = ClusterMessage(decoding: payload) {
                if message.sequence != server.lastSent + 1 {
                    problem = problem ?? "server \(server.id) sent \(message.sequence) after \(server.lastSent)"
                }
                server.lastSent = message.sequence
            }
            guard server.connected else { continue }  // the transport refuses it: the others see a gap
            for receiver in ordered where receiver.connected {
                if dropping && receiver.id != server.id && random.next() % 10 == 0 {
                    receiver.inbox.append(.dropped(1))
                } else {
                    receiver.inbox.append(.payload(payload))
                }
            }
        }
    }

    private func deliver(_ server: SimulatedServer) {
        let events = server.inbox
        server.inbox.removeAll()
        for event in events {
            switch event {
            case .connected: perform(server.machine.contactBegan(now: now), on: server)
            case .disconnected(let why): perform(server.machine.contactLost(why), on: server)
            case .dropped(let count):
                perform(server.machine.dropped(count, now: now, someoneToTell: !server.members.isEmpty), on: server)
            case .payload(let payload): perform(server.machine.received(payload), on: server)
            }
        }
    }

    /// The directory answers the listing of live servers: those in contact now.
    private func answerListings(_ server: SimulatedServer) {
        let listings = server.pendingListings
        server.pendingListings.removeAll()
        let live = ordered.filter { $0.id != server.id && $0.connected }.map(\.id)
        for contact in listings { perform(server.machine.liveServersListed(live, contact: contact), on: server) }
    }

    private func perform(_ actions: [ClusterStateMachine.Action], on server: SimulatedServer) {
        for action in actions {
            switch action {
            case .apply(let change): apply(change, on: server)
            case .reconcileClaims:
                perform(server.machine.claimsReconciled(server.localMembers, lost: []), on: server)
            case .listLiveServers(let contact): server.pendingListings.append(contact)
            case .startSyncTimer(let delay): server.syncTimer = now + delay
            case .cancelSyncTimer: server.syncTimer = nil
            case .checkServers: perform(server.machine.serversChecked([]), on: server)
            case .closeLostServer(let id): problem = problem ?? "server \(server.id) judged \(id) lost"
            case .requestSnapshotsAt(let due):
                if server.snapshotRequest != nil { problem = problem ?? "two held-back roster requests" }
                server.snapshotRequest = due
            case .ready: server.readyCount += 1
            case .report: break
            }
        }
        if server.readyCount > 1 { problem = problem ?? "server \(server.id) was ready twice" }
    }

    private func apply(_ change: RemoteChange, on server: SimulatedServer) {
        func check(_ origin: Int64) {
            if origin == server.id { problem = problem ?? "server \(server.id) applied its own change \(change)" }
        }
        switch change {
        case .joined(let member):
            check(member.id.server)
            server.view[member.id.server, default: [:]][member.id.member] = member
        case .left(let id, _):
            check(id.server)
            server.view[id.server]?[id.member] = nil
        case .renamed(let member):
            check(member.id.server)
            server.view[member.id.server, default: [:]][member.id.member] = member
        case .said(let id, _, _):
            check(id.server)
        case .privateMessage(let from, _, _):
            check(from.server)
        case .roster(let origin, let members, _):
            check(origin)
            server.view[origin] = Dictionary(uniqueKeysWithValues: members.map { ($0.id.member, $0) })
        case .serverLeft(let origin, _):
            check(origin)
            server.view[origin] = nil
        case .nameLost:
            problem = problem ?? "no claim is lost here"
        case .contactLost, .contactRestored:
            let lost = change == .contactLost
            if server.lastContactNotice == lost || (server.lastContactNotice == nil && !lost) {
                problem = problem ?? "server \(server.id): \(change) after \(String(describing: server.lastContactNotice))"
            }
            server.lastContactNotice = lost
        case .fellBehind, .sendingBacklogged:
            break
        }
    }
}
