import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import SwitchboardProtocol
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardCluster

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The whole server as one swift-service-lifecycle `Service` (twistd's application): the database pool,
/// history, the hub on its one event loop (the reactor), and a listener per endpoint.
///
/// Start-up, in order: wait for the database (bounded), apply migrations, close rows a killed process
/// left open, read the visit total, then listen. Stop (SIGTERM/SIGINT, or ``stop()``), in order: close the
/// listeners, tell clients `* server shutting down` and close them (recorded as `server shutdown`), write
/// queued history, stop the pool and the loop — all within ``ServerConfiguration/shutdownTimeout``.
public final class ChatServer: Service {
    public let configuration: ServerConfiguration
    let logger: Logger
    /// The loop the hub and every client channel live on.
    let loop: any EventLoop
    /// The group this server made for itself (and so shuts down), if it was not given one.
    private let ownGroup: MultiThreadedEventLoopGroup?
    let pool: DatabasePool
    /// Whether this server made its pool (and so stops it); a given pool is the caller's to stop (the CLI
    /// runs it as a service of its own, after the server in shutdown order).
    private let ownsPool: Bool
    /// This server's row in the `servers` table and its heartbeat.
    private let presence: ServerPresence
    let state = NIOLockedValueBox(State())
    /// Connections turned away at a TLS or PROXY front door (``ChatServer+FrontDoor``).
    public let frontDoorCounters = FrontDoorCounters()

    struct State {
        var hub: NIOLoopBound<ChatHub>?
        /// One per certificate of the `ssl:` endpoints, loaded at start.
        var certificates: [TLSFiles: TLSCertificateStore] = [:]
        /// The certificate check and the front door's summary line.
        var frontDoorTasks: [RepeatedTask] = []
        /// `--trusted-proxy` as in force (``reconfigure(_:)`` changes it).
        var trustedProxies: [IPAddressRange] = []
        /// idle → starting → running → stopping → stopped (see ``Lifecycle``).
        var lifecycle = Lifecycle.idle([])
        var store: NIOLoopBound<HistoryWriter>?
        var listeners: [any Channel] = []
        var serverID: Int64?
        var trimmer: NIOLoopBound<MemoryTrimmer>?
        /// What serves beside the listeners (the web page, the metrics; see ``ChatServerAttachment``).
        var attachments: [any ChatServerAttachment] = []
        var startedAttachments: [any ChatServerAttachment] = []
        /// The cluster's transport, for its counts (the metrics).
        var clusterLink: NotifyTransport?
    }

    /// This server's row in the `servers` table, once started.
    public var serverID: Int64? { state.withLockedValue { $0.serverID } }

    /// Creates the server on what it runs on; nothing runs until ``start()`` or ``run()``.
    ///
    /// - `eventLoopGroup`: the hub and all clients live on one loop of it (`next()`), so fan-out never
    ///   crosses threads (the reactor). Default: a one-thread group of the server's own.
    /// - `pool`: the database pool (it must be for `configuration.database`). Default: one of the
    ///   server's own, stopped with it.
    /// Tests start a server in-process this way, on port 0, and read the bound address from ``start()``.
    public init(
        configuration: ServerConfiguration, eventLoopGroup: (any EventLoopGroup)? = nil, pool: DatabasePool? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        if let eventLoopGroup {
            self.ownGroup = nil
            self.loop = eventLoopGroup.next()
        } else {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            self.ownGroup = group
            self.loop = group.next()
        }
        self.ownsPool = pool == nil
        self.pool = pool ?? DatabasePool(
            url: configuration.database, numberOfThreads: configuration.databaseThreads, logger: logger)
        self.presence = ServerPresence(configuration: configuration, pool: self.pool, logger: logger)
    }

    /// Connections accepted per event loop iteration, at most.
    static let acceptsPerIteration: UInt = 256
    /// Reads of a client's socket per readable event, at most.
    static let readsPerEvent: UInt = 1

    /// The loop that owns the hub and all clients.
    public var eventLoop: any EventLoop { loop }

    /// Service entry point: starts, serves until graceful shutdown is requested, then stops.
    ///
    /// When start-up fails, the cause is logged first — the one line a person needs (`cannot listen on
    /// ENDPOINT: REASON`, `cannot start: database error …`, `interrupted while waiting for the database`)
    /// — and then what was started is stopped; the error is rethrown for the exit status.
    public func run() async throws {
        do {
            try await start()
        } catch {
            let line = StartupFailure.line(for: error)
            logger.log(level: line.level, "\(line.message)")
            await stop(quietly: true)
            throw error
        }
        try? await gracefulShutdown()
        await stop()
    }

    /// Prepares the database and starts listening. Returns the bound addresses (port 0 becomes real).
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        try didBeginStarting()
        try configuration.validate()
        try await loadCertificates()
        pool.start()
        logger.info("opening database", metadata: ["database": "\(configuration.database.redacted)"])
        // SIGTERM/SIGINT (graceful shutdown) ends the wait at once rather than after the timeout.
        do {
            try await cancelWhenGracefulShutdown {
                try await self.pool.waitUntilReachable(timeout: self.configuration.databaseConnectTimeout)
            }
        } catch is CancellationError {
            throw StartupInterrupted()
        }
        let repository = HistoryRepository(dialect: configuration.database.dialect)
        let outcome = try await pool.withConnection { connection throws(DatabaseError) in
            try repository.migrate(on: connection)
        }
        for migration in outcome.applied {
            logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
        }
        // What earlier servers left in the spool goes in first, so start-up repair only closes what it lacks.
        let identity = try await pool.withConnection { connection throws(DatabaseError) in
            try repository.databaseIdentity(on: connection)
        }
        let spoolDirectory = configuration.effectiveSpoolDirectory
        if configuration.spoolMaximumBytes > 0 {
            try prepareSpoolDirectory(spoolDirectory)
            _ = try await HistorySpoolReplay.replay(
                directory: spoolDirectory, databaseIdentity: identity, pool: pool, logger: logger)
        }
        let (serverID, orphans) = try await presence.register()
        state.withLockedValue { $0.serverID = serverID }
        if orphans > 0 {
            logger.warning(
                "closed connections left open by servers that stopped unexpectedly", metadata: ["count": "\(orphans)"])
        }
        let visits = try await pool.withConnection { connection throws(DatabaseError) in
            try repository.totalVisits(on: connection)
        }

        let loop = self.loop
        let configuration = self.configuration
        let logger = self.logger
        let pool = self.pool
        let spool = configuration.spoolMaximumBytes > 0
            ? HistorySpool(
                directory: spoolDirectory, databaseIdentity: identity, serverID: serverID,
                maximumBytes: configuration.spoolMaximumBytes, logger: logger)
            : nil
        let (hub, store, tally) = try await loop.submit {
            let store = HistoryWriter(
                pool: pool, eventLoop: loop, logger: logger, serverID: serverID,
                maximumQueuedEvents: configuration.historyQueueLimit, maximumQueuedBytes: configuration.historyQueueBytes,
                spool: spool)
            let hub = ChatHub(
                eventLoop: loop, history: store, configuration: configuration.chat, totalVisits: visits, logger: logger)
            return (NIOLoopBound(hub, eventLoop: loop), NIOLoopBound(store, eventLoop: loop), hub.visitsHeardTally)
        }.get()
        presence.startHeartbeat(serverID: serverID, hub: hub, visitsHeard: tally)
        // The first block of visitor numbers, before anyone connects (bounded: a database that does not
        // answer now leaves the welcomes to wait for their rows, as without blocks).
        try? await loop.flatSubmit { hub.value.visitorNumbersReady() }
            .withDeadline(NIODeadline.now() + configuration.chat.visitorNumberWait, on: loop).get()
        let trimmer = try await loop.submit {
            let trimmer = MemoryTrimmer(logger: logger)
            trimmer.start(on: loop) { hub.value.takeSessionPeak() }
            return NIOLoopBound(trimmer, eventLoop: loop)
        }.get()
        state.withLockedValue {
            $0.hub = hub
            $0.store = store
            $0.trimmer = trimmer
        }
        if case .postgres(let parameters) = configuration.database {
            try await joinCluster(parameters, serverID: serverID, hub: hub)
        }
        await startModeration(hub: hub)

        var addresses: [SocketAddress] = []
        for endpoint in configuration.endpoints {
            let channel: any Channel
            do {
                channel = try await bind(endpoint, hub: hub)
            } catch {
                throw ListenError(endpoint: endpoint, underlying: error)
            }
            state.withLockedValue { $0.listeners.append(channel) }
            if let address = channel.localAddress { addresses.append(address) }
            logger.notice("listening", metadata: ["endpoint": "\(endpoint)", "address": "\(channel.localAddress?.displayString ?? "?")"])
        }
        try await listenAdminConsoles(hub: hub)
        // The attachments start once the hub runs and the chat listens (before readiness).
        let runtime = ChatServerRuntime(
            server: self, hub: hub, pool: pool, configuration: configuration, logger: logger,
            certificates: state.withLockedValue { $0.certificates })
        for attachment in state.withLockedValue({ $0.attachments }) {
            try await attachment.start(runtime)
            state.withLockedValue { $0.startedAttachments.append(attachment) }
        }
        didStartListening()
        return addresses
    }

    /// Creates the spool directory if need be, and checks it can be written: a spool that fails only when
    /// it is needed (during an outage) would be found out too late.
    private func prepareSpoolDirectory(_ directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SpoolDirectoryError(directory: directory, reason: "\(error.localizedDescription)")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw SpoolDirectoryError(directory: directory, reason: String(cString: strerror(errno)))
        }
    }

    func bind(_ endpoint: Endpoint, hub: NIOLoopBound<ChatHub>, adminConsole: Bool = false) async throws -> any Channel {
        let sendQueue = configuration.chat.maximumSendQueueBytes
        let logger = self.logger
        let frontDoor = frontDoorPipeline(for: endpoint)
        let acceptBackoff = configuration.acceptBackoff
        var bootstrap = ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Accept a whole crowd in one loop iteration, not NIO's default of 4: under load an iteration is
            // long (it works off a tick's fan-out budget), and at 4 a time the listen backlog overflows and
            // newcomers wait seconds for their welcome while the loop serves everyone already in.
            .serverChannelOption(.maxMessagesPerRead, value: ChatServer.acceptsPerIteration)
            .serverChannelInitializer { channel in
                // Out of file descriptors (EMFILE/ENFILE) or memory, accept(2) fails at once, every time: pause
                // accepting for a while instead of retrying at once (see `AcceptPause`). The connections wait
                // in the listen backlog meanwhile.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptPause(pause: acceptBackoff, endpoint: "\(endpoint)", logger: logger))
                }
            }
            // The child's options are set here, synchronously, not with `childChannelOption`: the bootstrap
            // applies those as a chain of futures per connection (~5 % of a connection's CPU under churn).
            // TCP_NODELAY needs no call: NIO sets it on the listening socket and accepted sockets inherit it.
            // Reads start once the client has its welcome: `ChatSession.read` holds them until then.
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let waterMark = ChannelOptions.Types.WriteBufferWaterMark(
                        low: max(1, sendQueue / 2), high: max(2, sendQueue))
                    // Every NIOPosix socket channel has synchronous options.
                    guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
                    try options.setOption(.allowRemoteHalfClosure, value: true)
                    try options.setOption(.writeBufferWaterMark, value: waterMark)
                    // One read (at most 64 KiB) per readable event, not NIO's default of four: a session holds
                    // further reads while it has input queued, so this is what a flooding client can make the
                    // server hold between two turns of the loop.
                    try options.setOption(.maxMessagesPerRead, value: ChatServer.readsPerEvent)
                    try frontDoor.install(on: channel, maximumLineLength: hub.value.configuration.maximumLineLength) { door in
                        ChatSession(hub: hub.value, frontDoor: door, isAdminConsole: adminConsole)
                    }
                }
            }
        switch endpoint.socketEndpoint {
        case .tcp(let host, let port, let backlog, let reusePort), .ssl(let host, let port, let backlog, let reusePort, _):
            bootstrap = bootstrap.serverChannelOption(.backlog, value: Int32(backlog))
            if reusePort {
                // SO_REUSEPORT: several servers on one host bind the same port and the kernel spreads new
                // connections over them, one core each.
                bootstrap = bootstrap.serverChannelOption(
                    .socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
            }
            return try await bootstrap.bind(host: host, port: port).get()
        case .unix(let path, let mode, let backlog):
            let channel = try await bootstrap
                .serverChannelOption(.backlog, value: Int32(backlog))
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            if let mode { chmod(path, mode_t(mode)) }
            return channel
        case .systemd(let domain, let index):
            return try await bootstrap.withBoundSocket(try SystemdListenSockets.shared.socket(at: index, domain: domain)).get()
        case .haproxy:
            preconditionFailure("socketEndpoint is never haproxy:")
        }
    }

    /// Stops gracefully (see the type's documentation). Safe to call more than once.
    ///
    /// The deadline is kept by a timer off the event loop, so it holds however busy the loop is: when it
    /// passes, `stop()` logs what was left and returns (rows left open are closed as `server stopped
    /// unexpectedly` at the next start).
    /// `quietly` (after a failed start): the tidy-up logs at debug level, so the cause stays the last word.
    public func stop(quietly: Bool = false) async {
        let (listeners, hub, store, serverID, trimmer) = state.withLockedValue { state in
            (state.listeners, state.hub, state.store, state.serverID, state.trimmer)
        }
        guard didBeginStopping() else { return }
        defer { didStop() }
        stopFrontDoorTasks()
        if let trimmer { trimmer.eventLoop.execute { trimmer.value.stop() } }
        let deadline = NIODeadline.now() + configuration.shutdownTimeout
        // First, and waited for: a beat still running could otherwise find the row this stop marks stopped
        // and rejoin. Its thread waits between beats, so this takes microseconds unless a beat is in flight.
        await presence.stopHeartbeat(within: min(.nanoseconds(configuration.shutdownTimeout.nanoseconds / 2), .seconds(2)))
        let level: Logger.Level = quietly ? .debug : .notice
        logger.log(level: level, "shutting down")
        // The steps keep `deadline` on the loop and report what they left; this outer guard, half a second
        // later and off the loop, only ends a stop whose loop cannot even do that.
        let finished = await ChatServer.run(until: deadline + .milliseconds(500)) { [self] in
            await self.stopParts(
                listeners: listeners, hub: hub, store: store, serverID: serverID, deadline: deadline, quietly: quietly)
        }
        if !finished {
            logger.error(
                "shutdown timed out; stopping without waiting for the rest",
                metadata: ["shutdown-timeout-ms": "\(configuration.shutdownTimeout.nanoseconds / 1_000_000)"])
        }
        logger.log(level: level, "stopped")
    }

    private func stopParts(
        listeners: [any Channel], hub: NIOLoopBound<ChatHub>?, store: NIOLoopBound<HistoryWriter>?, serverID: Int64?,
        deadline: NIODeadline, quietly: Bool
    ) async {
        for listener in listeners { try? await listener.close() }
        // The attachments stop accepting with the listeners, before the hub says goodbye.
        for attachment in state.withLockedValue({ $0.startedAttachments }) { await attachment.stop() }
        if let hub {
            try? await hub.eventLoop.flatSubmit { hub.value.shutdown() }
                .withDeadline(deadline, on: hub.eventLoop).get()
            // The members' leaves go to the other servers before the link stops.
            try? await hub.eventLoop.flatSubmit { hub.value.stopCluster() }
                .withDeadline(deadline, on: hub.eventLoop).get()
        }
        if let store {
            let loop = store.eventLoop
            // What cannot be written before the deadline goes to the spool: keep time for that.
            let spoolReserve = TimeAmount.nanoseconds(min(TimeAmount.seconds(1).nanoseconds, configuration.shutdownTimeout.nanoseconds / 5))
            do {
                try await loop.flatSubmit { store.value.drained() }.withDeadline(deadline - spoolReserve, on: loop).get()
                let written = try await loop.submit { store.value.writtenEvents }.get()
                logger.log(level: quietly ? .debug : .info, "history written", metadata: ["events": "\(written)"])
            } catch {
                let outcome = try? await loop.flatSubmit { store.value.spoolUnwritten() }.withDeadline(deadline, on: loop).get()
                if let outcome, outcome.lost == 0 {
                    logger.warning(
                        "history not all written before --shutdown-timeout; the rest is in the spool for the next start",
                        metadata: ["spooled-events": "\(outcome.spooled)", "spool-dir": "\(configuration.effectiveSpoolDirectory)"])
                } else {
                    logger.error(
                        "shutdown timed out before all history was written",
                        metadata: ["spooled-events": "\(outcome?.spooled ?? 0)", "unwritten-events": "\(outcome?.lost ?? -1)"])
                }
            }
            if let spool = try? await loop.submit({ store.value.spool }).get() { await spool.shutdown() }
        }
        // After the history: the rows are closed by now (see ``ServerPresence/markStopped(_:deadline:on:)``).
        if let serverID { await presence.markStopped(serverID, deadline: deadline, on: loop) }
        if ownsPool { try? await pool.shutdown() }
        try? await ownGroup?.shutdownGracefully()
    }
}
