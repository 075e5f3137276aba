import NIOCore
import NIOPosix

/// A set of benchmark client connections spread round-robin over the event loops of a group, each
/// welcomed by the server before ``connect(count:options:group:deadline:)`` returns.
///
/// Connections open in waves of `--connect-concurrency`, so a server with a small listen backlog
/// does not drop SYNs (which would cost a one-second retransmit each).
struct ClientFleet: Sendable {
    /// One connected, welcomed client.
    struct Client: Sendable {
        let channel: Channel
        let handler: NIOLoopBound<BenchClientHandler>
        let done: EventLoopFuture<Void>
    }

    let clients: [Client]
    /// One tally per event loop of the group, in loop order.
    let tallies: [NIOLoopBound<DeliveryTally>]

    /// Connects `count` clients and waits for each one's welcome line.
    ///
    /// - Throws: ``BenchError/timedOut(phase:)`` past `deadline`, or the first connect error.
    static func connect(
        count: Int,
        options: TargetOptions,
        group: MultiThreadedEventLoopGroup,
        deadline: NIODeadline
    ) throws -> ClientFleet {
        let loops = Array(group.makeIterator())
        let tallies = try loops.map { loop in
            try loop.submit { NIOLoopBound(DeliveryTally(), eventLoop: loop) }.wait()
        }
        var clients: [Client] = []
        clients.reserveCapacity(count)
        let wave = max(1, options.connectConcurrency)
        var next = 0
        while next < count {
            let upper = min(count, next + wave)
            let futures = (next..<upper).map { index in
                Self.connectOne(
                    clientID: index, options: options, tally: tallies[index % loops.count]
                )
            }
            let welcomed = EventLoopFuture.whenAllSucceed(futures, on: loops[0])
            clients += try welcomed.wait(until: deadline, phase: "connecting clients (\(next) of \(count) welcomed)")
            next = upper
        }
        return ClientFleet(clients: clients, tallies: tallies)
    }

    private static func connectOne(
        clientID: Int,
        options: TargetOptions,
        tally: NIOLoopBound<DeliveryTally>
    ) -> EventLoopFuture<Client> {
        let loop = tally.eventLoop
        return ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = BenchClientHandler(clientID: clientID, tally: tally.value, eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: options.host, port: options.port)
            .flatMap { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try channel.pipeline.syncOperations.handler(type: BenchClientHandler.self)
                    let client = Client(
                        channel: channel,
                        handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                        done: handler.done.futureResult
                    )
                    return (client, handler.welcome.futureResult)
                }
            }
            .flatMap { (client: Client, welcome: EventLoopFuture<Void>) in welcome.map { _ in client } }
    }

    /// Runs `body` with each client's handler on that client's loop.
    func forEachHandler(_ body: @escaping @Sendable (BenchClientHandler, _ index: Int) -> Void) {
        for (index, client) in self.clients.enumerated() {
            let handler = client.handler
            client.channel.eventLoop.execute { body(handler.value, index) }
        }
    }

    /// Succeeds when every client's ``BenchClientHandler/done`` has.
    func allDone(on loop: EventLoop) -> EventLoopFuture<Void> {
        EventLoopFuture.andAllSucceed(self.clients.map(\.done), on: loop)
    }

    /// The merged tallies of all loops, read on each loop.
    func snapshot() throws -> DeliveryTally.Snapshot {
        var merged = DeliveryTally.Snapshot.empty
        for tally in self.tallies {
            merged.merge(try tally.eventLoop.submit { tally.value.snapshot }.wait())
        }
        return merged
    }

    /// Closes every connection and waits for the closes (errors ignored: the peer may be gone).
    func closeAll() {
        guard let first = self.clients.first else { return }
        let closes = self.clients.map { $0.channel.close() }
        try? EventLoopFuture.andAllComplete(closes, on: first.channel.eventLoop).wait()
    }
}
