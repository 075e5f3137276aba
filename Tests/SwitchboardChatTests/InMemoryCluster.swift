import NIOCore
import NIOEmbedded
@testable import SwitchboardChat
import SwitchboardCluster

/// Several hubs as one cluster without PostgreSQL: an in-memory NOTIFY bus and name table, the way
/// ``ChatTestHarness`` stands in for sockets. Everything runs on the test thread (each hub on its own
/// `EmbeddedEventLoop`); ``settle()`` runs the loops until nothing moves.
final class InMemoryCluster {
    final class Server {
        let id: Int64
        let harness: ChatTestHarness
        let transport: Transport
        let directory: Directory
        init(id: Int64, harness: ChatTestHarness, transport: Transport, directory: Directory) {
            self.id = id
            self.harness = harness
            self.transport = transport
            self.directory = directory
        }
        var hub: ChatHub { harness.hub }
    }

    private(set) var servers: [Server] = []
    /// Who holds each name (the `nicknames` table): key → (server, connection, claimed at).
    var claims: [String: (server: Int64, connection: UInt64, claimedAt: Int64)] = [:]
    /// Servers whose heartbeat is late (lost) or that stopped, as the `servers` table would say.
    var late: Set<Int64> = []
    var stopped: Set<Int64> = []
    /// Payloads published, in order (own echoes included, as PostgreSQL does).
    private(set) var published: [(from: Int64, payload: String)] = []

    /// Adds a server (its hub joins the cluster) and lets the rosters settle.
    @discardableResult
    func addServer(_ id: Int64, configuration: ChatConfiguration = ChatConfiguration()) -> Server {
        let harness = ChatTestHarness(configuration: configuration)
        let server = Server(id: id, harness: harness, transport: Transport(bus: self, server: id),
                            directory: Directory(bus: self, server: id, loop: harness.loop))
        servers.append(server)
        _ = harness.hub.startCluster(
            serverID: id, transport: server.transport, directory: server.directory, serverTimeout: .seconds(15))
        server.transport.connect()
        settle()
        return server
    }

    /// Runs every loop until no payload is in flight.
    func settle() {
        for _ in 0..<50 {
            var moved = false
            for server in servers {
                server.harness.loop.run()
                if server.transport.wakePending {
                    server.transport.wakePending = false
                    server.transport.wake?()
                    moved = true
                }
                server.harness.loop.run()
            }
            if !moved { return }
        }
    }

    fileprivate func publish(_ payload: String, from server: Int64) {
        published.append((server, payload))
        for other in servers where other.transport.isConnected {
            other.transport.receive(.payload(payload))
        }
    }

    /// The transport of one server: a queue the bus fills, taken by the hub.
    final class Transport: ClusterTransport, @unchecked Sendable {
        // @unchecked: test-only; every use is on the test thread (the embedded loops run there).
        unowned let bus: InMemoryCluster
        let server: Int64
        var wake: (@Sendable () -> Void)?
        var wakePending = false
        private(set) var isConnected = false
        private var inbox: [ClusterTransportEvent] = []
        /// When set, received payloads beyond this many waiting are dropped and counted (a slow listener).
        var maximumInbox = Int.max
        private var dropped = 0
        /// What the hub is told about its sends: set it to hold back producers, clear it with
        /// ``catchUp()``.
        var isBacklogged = false
        /// Payloads sent while ``isBacklogged`` (they still go out).
        private(set) var sentWhileBacklogged = 0

        init(bus: InMemoryCluster, server: Int64) {
            self.bus = bus
            self.server = server
        }

        func start(wake: @escaping @Sendable () -> Void) { self.wake = wake }

        func take() -> [ClusterTransportEvent] {
            defer { inbox.removeAll() }
            if dropped > 0 {
                inbox.append(.dropped(dropped))
                dropped = 0
            }
            return inbox
        }

        func send(_ payload: String) -> Bool {
            guard isConnected else { return false }
            if isBacklogged { sentWhileBacklogged += 1 }
            bus.publish(payload, from: server)
            return true
        }

        /// The backlog drained: the hub is woken to look.
        func catchUp() {
            isBacklogged = false
            wakePending = true
        }

        func stop() async {}

        func receive(_ event: ClusterTransportEvent) {
            if case .payload = event, inbox.count >= maximumInbox {
                dropped += 1
            } else {
                inbox.append(event)
            }
            wakePending = true
        }

        func connect() {
            isConnected = true
            receive(.connected)
        }

        func disconnect() {
            isConnected = false
            receive(.disconnected("test: connection lost"))
        }
    }

    /// The name table and servers table as the bus holds them.
    final class Directory: ClusterDirectory {
        unowned let bus: InMemoryCluster
        let server: Int64
        let loop: EmbeddedEventLoop
        /// While set, every call fails (the database is down).
        var isDown = false

        init(bus: InMemoryCluster, server: Int64, loop: EmbeddedEventLoop) {
            self.bus = bus
            self.server = server
            self.loop = loop
        }

        private struct Down: Error {}

        private func answer<T: Sendable>(_ value: @autoclosure () -> T) -> EventLoopFuture<T> {
            isDown ? loop.makeFailedFuture(Down()) : loop.makeSucceededFuture(value())
        }

        private func take(_ claim: ClusterRepository.Claim, takeOver: Bool) -> Bool {
            if let held = bus.claims[claim.key] {
                let mine = held.server == server && held.connection == claim.connection
                let earlier = (claim.claimedAt, server) < (held.claimedAt, held.server)
                let holderGone = bus.late.contains(held.server) || bus.stopped.contains(held.server)
                guard mine || (takeOver && earlier) || holderGone else { return false }
            }
            bus.claims = bus.claims.filter { !($0.value.server == server && $0.value.connection == claim.connection) }
            bus.claims[claim.key] = (server, claim.connection, claim.claimedAt)
            return true
        }

        func claim(_ claim: ClusterRepository.Claim) -> EventLoopFuture<Bool> {
            guard holdsAnswers else { return answer(take(claim, takeOver: false)) }
            let promise = loop.makePromise(of: Bool.self)
            held.append { promise.succeed(self.take(claim, takeOver: false)) }
            return promise.futureResult
        }

        /// While set, claims wait until ``answerHeld()`` (a slow database).
        var holdsAnswers = false
        private var held: [() -> Void] = []

        /// Answers the claims held so far.
        func answerHeld() {
            let answers = held
            held.removeAll()
            for answer in answers { answer() }
        }

        func release(connection: UInt64) {
            guard !isDown else { return }
            bus.claims = bus.claims.filter { !($0.value.server == server && $0.value.connection == connection) }
        }

        func reconcile(_ claims: [ClusterRepository.Claim]) -> EventLoopFuture<[UInt64]> {
            guard !isDown else { return loop.makeFailedFuture(Down()) }
            bus.claims = bus.claims.filter { $0.value.server != server }
            return answer(claims.filter { !take($0, takeOver: true) }.map(\.connection))
        }

        func serverStatuses(known: [Int64]) -> EventLoopFuture<[ClusterRepository.ServerStatus]> {
            let ids = Set(known).union(bus.late).subtracting([server]).sorted()
            return answer(ids.map {
                ClusterRepository.ServerStatus(id: $0, stopped: bus.stopped.contains($0), late: bus.late.contains($0))
            })
        }

        /// Runs when a lost server is about to be marked, as the database's statement would run later than
        /// the judgement it acts on (a busy loop): a test can make the heartbeat come back meanwhile.
        var beforeMarkingLost: ((Int64) -> Void)?

        func closeLostServer(
            _ id: Int64, names: [(visitor: Int64, nickname: String)]
        ) -> EventLoopFuture<ClusterRepository.LostServer> {
            beforeMarkingLost?(id)
            if bus.late.remove(id) != nil {
                bus.stopped.insert(id)
                return answer(.closed(rows: names.count))
            }
            return answer(bus.stopped.contains(id) ? .alreadyGone : .alive)
        }

        func liveServerIDs() -> EventLoopFuture<[Int64]> {
            answer(bus.servers.map(\.id).filter { $0 != server && !bus.late.contains($0) && !bus.stopped.contains($0) })
        }

    }
}
