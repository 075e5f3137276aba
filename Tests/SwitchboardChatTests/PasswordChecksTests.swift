import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SwitchboardDatabase
import SwitchboardModeration
import SwitchboardTestSupport
import XCTest

@testable import SwitchboardChat

/// Password checks (scrypt) run off the database pool, hold no connection while they wait or run, and are
/// bounded server-wide.
final class PasswordChecksTests: XCTestCase {
    private var threads: NIOThreadPool!
    private let loop = MultiThreadedEventLoopGroup.singleton.next()
    /// Released by the test: a task on the checks' only thread that keeps every check waiting behind it.
    private let gate = DispatchSemaphore(value: 0)

    override func setUp() {
        threads = NIOThreadPool(numberOfThreads: 1)
        threads.start()
    }

    override func tearDown() async throws {
        try await threads.shutdownGracefully()
    }

    /// Occupies the checks' one thread until ``gate`` is signalled; returns when it has started.
    private func occupyTheThread() async throws {
        let started = DispatchSemaphore(value: 0)
        threads.submit { [gate] _ in
            started.signal()
            gate.wait()
        }
        // A blocking wait off the cooperative pool: the task above signals it from the pool's thread.
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                started.wait()
                continuation.resume()
            }
        }
    }

    func testBeyondTheBoundACheckIsRefusedAtOnceAndTheOthersStillFinish() async throws {
        let checks = PasswordChecks(threads: threads)
        try await occupyTheThread()
        let waiting = (0..<PasswordChecks.maximumPending).map { n in checks.run(on: loop) { n } }
        do {
            _ = try await checks.run(on: loop) { -1 }.get()
            XCTFail("one over the bound should have been refused")
        } catch {
            XCTAssertTrue(error is PasswordChecksBusy, "\(error)")
        }
        gate.signal()
        var results: [Int] = []
        for future in waiting { results.append(try await future.get()) }
        XCTAssertEqual(results, Array(0..<PasswordChecks.maximumPending))
        // Finished checks give their places back.
        let after = try await checks.run(on: loop) { 7 }.get()
        XCTAssertEqual(after, 7)
    }

    func testAPasswordCheckWaitingForItsTurnHoldsNoDatabaseConnection() async throws {
        let database = try TestDatabases.sqlite()
        defer { database.drop() }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        // One connection: if the check held it, nothing else could reach the database meanwhile.
        let pool = DatabasePool(url: database.url, numberOfThreads: 1, logger: logger)
        pool.start()
        let dialect = database.url.dialect
        let hash = try PasswordHash.make("nick-pw")
        let registered = try await pool.withConnection { connection throws(DatabaseError) in
            _ = try Migrator(dialect: dialect).migrate(connection)
            return try ModerationRepository(dialect: dialect).registerNickname("alice", passwordHash: hash, at: .now(), on: connection)
        }
        XCTAssertTrue(registered)
        let store = PoolModerationStore(pool: pool, eventLoop: loop, passwords: PasswordChecks(threads: threads))

        try await occupyTheThread()
        let check = store.checkNickname("alice", password: "nick-pw")
        let wrong = store.checkNickname("alice", password: "nick-PW")
        let finished = NIOLockedValueBox(0)
        for future in [check, wrong] { future.whenComplete { _ in finished.withLockedValue { $0 += 1 } } }
        // Both read the hash and wait for the checks' thread; the database answers others meanwhile. (When scrypt
        // ran on the database pool, this read queued behind both checks and came back after them.)
        let version = try await store.version().get()
        XCTAssertGreaterThanOrEqual(version, 0)
        XCTAssertEqual(finished.withLockedValue { $0 }, 0, "the checks finished before the database answered someone else")
        gate.signal()
        let right = try await check.get()
        let wrongResult = try await wrong.get()
        XCTAssertTrue(right)
        XCTAssertFalse(wrongResult)
        try await pool.shutdown()
    }
}
