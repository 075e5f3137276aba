import Foundation
import Logging
import NIOCore
import SwitchboardDatabase

/// A running server's liveness signal: its `servers` row's `heartbeat_at`, refreshed every ``interval`` by a
/// thread of its own on a database connection of its own, so that nothing the event loop does — a flood, a
/// long tick — and nothing queued on the database pool can delay it. A busy server is not a dead one.
///
/// ```
///  sb-heartbeat thread, every interval:
///    UPDATE servers SET heartbeat_at = now() WHERE id = ME AND stopped_at IS NULL
///      ├─ a row ──▶ (cluster) read the other servers' visit total ──▶ report(.visitsElsewhere)
///      ├─ none: another server took this one for lost and marked it stopped ──▶ rejoin: in one
///      │        transaction, stopped_at = NULL, heartbeat_at = now(), and the rows it closed for this server
///      │        (`server lost`, `server stopped unexpectedly`) open again ──▶ report(.rejoined)
///      └─ fails ──▶ logged once per episode; the next beat reconnects and tries again
/// ```
///
/// Failures are logged once per episode (a warning when the first beat fails, an info line with the count
/// and length when one succeeds again). A SQLite file deleted or replaced under the server fails the beat
/// (nothing is written into another database, and none is created at the path). The thread never runs on an event loop (libpq and sqlite3 block).
/// ``stop(within:)`` ends it promptly: it waits on a condition between beats, and a connection attempt gives
/// up when asked; a statement in flight is bounded by `statement_timeout` (PostgreSQL) or the busy timeout
/// (SQLite), both at most one interval.
///
/// Thread ownership: the connection is opened, used and closed by the heartbeat thread alone; everything
/// else shared with it lives in ``Shared`` under its lock. `report` is called on that thread: it must hop to
/// wherever the news is needed (the hub's loop) and not block.
public final class ServerHeartbeat: Sendable {
    /// What a beat found that the server should act on.
    public enum Report: Sendable, Equatable {
        /// This server's row had been marked stopped by another server (it was taken for lost) and is live
        /// again; `reopenedRows` of its connection rows, closed meanwhile on its behalf, are open again.
        case rejoined(reopenedRows: Int)
        /// The visits the database has counted for every other server (and before servers registered), read
        /// right after the tally given at ``init(url:serverID:interval:visitTally:logger:report:)`` said
        /// `tallyAtRead`.
        case visitsElsewhere(Int64, tallyAtRead: Int64)
    }

    /// The `servers` row this heartbeat keeps fresh.
    public let serverID: Int64
    /// Time between beats.
    public let interval: TimeAmount
    private let shared: Shared

    /// The interval for `serverTimeout`: a third of it (so two beats may fail before others judge), at most
    /// 5 s.
    public static func interval(serverTimeout: TimeAmount) -> TimeAmount {
        .nanoseconds(min(TimeAmount.seconds(5).nanoseconds, serverTimeout.nanoseconds / 3))
    }

    /// A heartbeat for server `serverID` on the database `url`; nothing runs before ``start()``.
    ///
    /// - `visitTally`: when given (cluster mode, PostgreSQL), each beat also reads the visits the database
    ///   counts for the other servers (`server_visits`, a handful of rows) and reports them with the tally's
    ///   value read just before, so the caller can add what it counted since.
    /// - `report`: called on the heartbeat thread; see ``Report``.
    public init(
        url: DatabaseURL, serverID: Int64, interval: TimeAmount, visitTally: (@Sendable () -> Int64)? = nil,
        logger: Logger, report: @escaping @Sendable (Report) -> Void
    ) {
        precondition(interval > .zero, "a heartbeat needs an interval")
        self.serverID = serverID
        self.interval = interval
        var logger = logger
        logger[metadataKey: "server-id"] = "\(serverID)"
        self.shared = Shared(
            url: url, serverID: serverID, interval: interval, visitTally: visitTally, logger: logger, report: report)
    }

    /// Starts the thread; the first beat is one interval from now. Call it once.
    public func start() {
        let shared = self.shared
        guard shared.begin() else { return }
        Thread {
            // Named from inside, so a leftover one is visible (ps -L). Not with `Thread.current.name` on Linux:
            // it names the kernel's thread only if the parent has stored the new thread's id by then, a race.
            #if os(Linux)
            try? "sb-heartbeat".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            #else
            Thread.current.name = "sb-heartbeat"
            #endif
            shared.run()
        }.start()
    }

    /// Stops the thread: it beats no more, and never rejoins after this was called. Returns once it has exited
    /// (true) or `within` has passed (false: a statement is still in flight; it ends by its own timeout).
    /// Safe to call more than once, and before ``start()``.
    @discardableResult
    public func stop(within: TimeAmount) async -> Bool {
        await shared.stop(within: within)
    }

    deinit {
        shared.requestStop()
    }
}

extension ServerHeartbeat {
    /// The state the heartbeat thread shares with its owner, and the thread's loop.
    ///
    /// `@unchecked Sendable`: `phase` and `exitWaiters` are only read and written with `condition` locked; the
    /// other properties are immutable and Sendable. The connection is a local of ``run()`` (closed when the
    /// last reference to it goes, on that thread).
    final class Shared: @unchecked Sendable {
        enum Phase { case idle, running, stopping, exited }

        let url: DatabaseURL
        let serverID: Int64
        let interval: TimeAmount
        let visitTally: (@Sendable () -> Int64)?
        let logger: Logger
        let report: @Sendable (Report) -> Void
        private let registry: ServerRegistry
        private let condition = NSCondition()
        private var phase = Phase.idle
        private var exitWaiters: [@Sendable () -> Void] = []

        init(
            url: DatabaseURL, serverID: Int64, interval: TimeAmount, visitTally: (@Sendable () -> Int64)?,
            logger: Logger, report: @escaping @Sendable (Report) -> Void
        ) {
            self.url = url
            self.serverID = serverID
            self.interval = interval
            self.visitTally = visitTally
            self.logger = logger
            self.report = report
            self.registry = ServerRegistry(dialect: url.dialect)
        }

        /// idle → running; false if it was started or stopped already.
        func begin() -> Bool {
            locked {
                guard phase == .idle else { return false }
                phase = .running
                return true
            }
        }

        func requestStop() {
            locked {
                if phase == .idle { phase = .exited } else if phase == .running { phase = .stopping }
                condition.broadcast()
            }
        }

        var isStopping: Bool { locked { phase != .running } }

        func stop(within: TimeAmount) async -> Bool {
            requestStop()
            return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumed = ResumeOnce(continuation)
                let exited = locked { () -> Bool in
                    guard phase != .exited else { return true }
                    exitWaiters.append { resumed.resume(true) }
                    return false
                }
                if exited { return resumed.resume(true) }
                let nanoseconds = max(0, Int(within.nanoseconds))
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { resumed.resume(false) }
            }
        }

        // MARK: The thread

        func run() {
            var connection: (any DatabaseConnection)?
            var failures: (count: Int, since: NIODeadline)?
            var toldMarkedStopped = false
            var next = NIODeadline.now() + interval
            while waitUntil(next) {
                next = max(next + interval, .now())
                do {
                    let live = try connection.flatMap { $0.isUsable ? $0 : nil } ?? connect()
                    connection = live
                    try beat(on: live, toldMarkedStopped: &toldMarkedStopped)
                    if let episode = failures {
                        failures = nil
                        logger.info("heartbeat written again", metadata: [
                            "failed-beats": "\(episode.count)",
                            "seconds": "\((NIODeadline.now() - episode.since).nanoseconds / 1_000_000_000)",
                        ])
                    }
                } catch {
                    if let episode = failures {
                        failures = (episode.count + 1, episode.since)
                    } else {
                        failures = (1, .now())
                        logger.warning(
                            "cannot write the heartbeat; other servers will take this one for lost after --server-timeout",
                            metadata: ["error": "\(error)"])
                    }
                    if connection?.isUsable == false { connection = nil }
                }
            }
            connection = nil
            let waiters = locked { () -> [@Sendable () -> Void] in
                phase = .exited
                defer { exitWaiters = [] }
                return exitWaiters
            }
            for waiter in waiters { waiter() }
        }

        /// One beat: the heartbeat, a rejoin if this server was marked stopped, the visits read.
        private func beat(on connection: any DatabaseConnection, toldMarkedStopped: inout Bool) throws(DatabaseError) {
            // A SQLite file deleted or replaced under the server: write nothing into another database (the
            // connection stays usable, so it is not reopened either; moved back, the next beat writes again).
            if let sqlite = connection as? SQLiteConnection { try sqlite.verifyFileIdentity() }
            if try !registry.heartbeat(serverID: serverID, on: connection) {
                // Taken for lost by another server. Not after a stop began: the stop marks the row stopped itself.
                guard !isStopping else { return }
                if !toldMarkedStopped {
                    toldMarkedStopped = true
                    logger.warning(
                        "this server was taken for lost by another server (its row in the servers table is marked stopped); rejoining")
                }
                let dialect = url.dialect
                let id = serverID
                let reopened = try connection.transaction { connection throws(DatabaseError) -> Int? in
                    try ServerHeartbeat.rejoin(id, dialect: dialect, on: connection)
                }
                if let reopened {
                    toldMarkedStopped = false
                    logger.notice("rejoined: this server's row is live again", metadata: ["reopened-rows": "\(reopened)"])
                    report(.rejoined(reopenedRows: reopened))
                }
            }
            if let visitTally {
                let tally = visitTally()
                let visits = try ServerHeartbeat.visitsElsewhere(serverID, dialect: url.dialect, on: connection)
                report(.visitsElsewhere(visits, tallyAtRead: tally))
            }
        }

        private func connect() throws(DatabaseError) -> any DatabaseConnection {
            if case .sqlite(let path) = url, !FileManager.default.fileExists(atPath: path) {
                // Opening would create a fresh, empty database at the path; the server never does that by itself.
                throw DatabaseError(.connectionLost, message: "the database file \(path) is gone")
            }
            let connection = try DatabasePool.connector(for: url, shouldGiveUp: { [weak self] in self?.isStopping ?? true })()
            if url.dialect == .postgres {
                // A statement waiting on a lock (a survivor's repair of this row) is bounded by one interval.
                let milliseconds = max(1, interval.nanoseconds / 1_000_000)
                try connection.executeScript("SET statement_timeout = \(milliseconds)")
            }
            return connection
        }

        /// Waits until `deadline`; false once a stop was asked for.
        private func waitUntil(_ deadline: NIODeadline) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            while phase == .running {
                let left = deadline - .now()
                if left <= .zero { return true }
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(left.nanoseconds) / 1e9))
            }
            return false
        }

        private func locked<T>(_ body: () -> T) -> T {
            condition.lock()
            defer { condition.unlock() }
            return body()
        }
    }

    /// Resumes a continuation once, whichever of the thread's exit and the deadline comes first.
    ///
    /// `@unchecked Sendable`: `continuation` is only taken with `lock` held.
    private final class ResumeOnce: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<Bool, Never>?
        init(_ continuation: CheckedContinuation<Bool, Never>) { self.continuation = continuation }

        func resume(_ finished: Bool) {
            let taken = lock.withLock { () -> CheckedContinuation<Bool, Never>? in
                defer { continuation = nil }
                return continuation
            }
            taken?.resume(returning: finished)
        }
    }
}
