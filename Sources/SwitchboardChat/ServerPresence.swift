import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardDatabase
import SwitchboardHistory

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// This server's row in the `servers` table, from start to stop: registered at start (on SQLite, refused
/// when another live server uses the file; the rows of dead servers closed), kept live by the heartbeat
/// (``ServerHeartbeat``: its own thread and connection), marked stopped at the end.
///
/// Ownership: immutable but for the heartbeat, which is behind a lock (start and stop run on different tasks).
final class ServerPresence: Sendable {
    private let configuration: ServerConfiguration
    private let pool: DatabasePool
    private let logger: Logger
    private let heartbeat = NIOLockedValueBox<ServerHeartbeat?>(nil)

    init(configuration: ServerConfiguration, pool: DatabasePool, logger: Logger) {
        self.configuration = configuration
        self.pool = pool
        self.logger = logger
    }

    /// Start-up's one transaction on the `servers` table: on SQLite, refuses (``DatabaseInUse``) when another
    /// live server uses the file; registers this server; closes the rows of dead servers (see
    /// ``ServerRegistry/closeOrphanedConnections(at:reason:serverTimeout:excluding:on:)``). Returns this
    /// server's id and how many rows were closed. (The heartbeat starts with the hub, within moments.)
    func register() async throws -> (id: Int64, closed: Int) {
        let registry = ServerRegistry(dialect: configuration.database.dialect)
        let registration = ServerRegistration(
            host: ServerPresence.hostName(), pid: Int64(getpid()),
            endpoints: configuration.endpoints.map { "\($0)" }.joined(separator: " "), version: SwitchboardVersion.current)
        let timeout = configuration.serverTimeout
        let dialect = configuration.database.dialect
        enum Outcome: Sendable {
            case registered(Int64, closed: Int)
            case inUse(ServerRecord)
        }
        let outcome = try await pool.transaction { connection throws(DatabaseError) -> Outcome in
            if dialect == .sqlite {
                // One SQLite file, one server. A server on this host whose process is gone (SIGKILL, crash) is
                // dead now, whatever its heartbeat says, so a restart right after a crash is not refused.
                var live: [ServerRecord] = []
                for other in try registry.liveServers(serverTimeout: timeout, on: connection) {
                    if other.host == registration.host && !ServerPresence.processExists(other.pid) {
                        try registry.markGone(other.id, on: connection)
                    } else {
                        live.append(other)
                    }
                }
                if let other = live.first { return .inUse(other) }
            }
            let id = try registry.register(registration, on: connection)
            let closed = try registry.closeOrphanedConnections(
                at: Timestamp.now(), serverTimeout: timeout, excluding: id, on: connection)
            return .registered(id, closed: closed)
        }
        switch outcome {
        case .inUse(let other):
            throw DatabaseInUse(database: configuration.database.redacted, other: other)
        case .registered(let id, let closed):
            logger.info("registered", metadata: ["server-id": "\(id)", "host": "\(registration.host)", "pid": "\(registration.pid)"])
            return (id, closed)
        }
    }

    /// Starts the heartbeat (every third of `--server-timeout`, at most every 5 s). What it finds hops to the
    /// hub's loop: a rejoin after this server was taken for lost, and (on PostgreSQL, where servers share the
    /// visit total) the database's count of the other servers' visits.
    func startHeartbeat(serverID: Int64, hub: NIOLoopBound<ChatHub>, visitsHeard: NIOLockedValueBox<Int64>) {
        let loop = hub.eventLoop
        var visitTally: (@Sendable () -> Int64)?
        if configuration.database.dialect == .postgres {
            visitTally = { visitsHeard.withLockedValue { $0 } }
        }
        let report: @Sendable (ServerHeartbeat.Report) -> Void = { report in
            loop.execute {
                switch report {
                case .rejoined:
                    hub.value.cluster?.rejoined()
                case .visitsElsewhere(let total, let tally):
                    hub.value.visitsElsewhereCounted(total, tallyAtRead: tally)
                }
            }
        }
        let beat = ServerHeartbeat(
            url: configuration.database, serverID: serverID,
            interval: ServerHeartbeat.interval(serverTimeout: configuration.serverTimeout), visitTally: visitTally,
            logger: logger, report: report)
        heartbeat.withLockedValue { $0 = beat }
        beat.start()
    }

    /// Stops the heartbeat, waiting for a beat in flight (at most `within`): a beat still running could
    /// otherwise find the row ``markStopped(_:deadline:on:)`` marks and rejoin.
    func stopHeartbeat(within limit: TimeAmount) async {
        let beat = heartbeat.withLockedValue { beat in
            defer { beat = nil }
            return beat
        }
        await beat?.stop(within: limit)
    }

    /// Marks this server stopped (after its history is written: the next start then has nothing of it to
    /// repair; rows a timed-out stop left open are repaired, being a stopped server's).
    func markStopped(_ serverID: Int64, deadline: NIODeadline, on loop: any EventLoop) async {
        let registry = ServerRegistry(dialect: configuration.database.dialect)
        do {
            try await pool.transaction(on: loop) { connection throws(DatabaseError) in
                try registry.markStopped(serverID, on: connection)
            }.withDeadline(deadline, on: loop).get()
        } catch {
            logger.warning("could not mark this server stopped", metadata: ["server-id": "\(serverID)", "error": "\(error)"])
        }
    }

    /// The host name recorded for this server.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether a process with `pid` exists on this host.
    static func processExists(_ pid: Int64) -> Bool {
        guard pid > 0, pid <= Int64(Int32.max) else { return false }
        return kill(pid_t(pid), 0) == 0 || errno == EPERM
    }
}
