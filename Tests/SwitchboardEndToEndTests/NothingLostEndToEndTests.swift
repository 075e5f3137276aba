import Foundation
import NIOConcurrencyHelpers
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase

#if canImport(Glibc)
import Glibc
#endif

/// A line the server accepted is a line it stores: under a flood against a database that is up but slow,
/// the flooder is held back (TCP pushes back on it) instead of lines being dropped; a stop during an outage
/// leaves what it could not write in the spool, and the next start stores it.
final class NothingLostEndToEndTests: XCTestCase {
    /// Runs `body` on a thread of its own; ``wait(timeout:)`` says whether it finished in time.
    final class Background: Sendable {
        private let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping @Sendable () -> Void) {
            let done = self.done
            let thread = Thread {
                body()
                done.signal()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        func wait(timeout: TimeInterval) -> Bool { done.wait(timeout: .now() + timeout) == .success }
    }

    /// A flooder (`--flood-rate 0`) sends 15 MB of lines while PostgreSQL is up but its `messages` table is
    /// locked, so history cannot keep up: the server stops reading the flooder once its history queue is half
    /// full (the flooder's socket fills: it cannot finish), another client's line still reaches everyone,
    /// and once the lock is gone every line is stored — none dropped. (Before, the queue filled and the
    /// rest of the flood was dropped from history.)
    func testAFloodAgainstAStalledDatabaseIsHeldBackAndEveryLineStored() async throws {
        let database = try TestDatabases.requirePostgres()
        defer { database.drop() }
        let server = try await InProcessServer.start(database: database.cliURL, for: self) { configuration in
            configuration.chat.floodRate = 0
            configuration.historyQueueLimit = 2_000
        }
        let (flooder, _) = try server.join()
        let (witness, _) = try server.join()
        let (reader, _) = try server.join()
        _ = flooder.readLines(until: { $0.hasPrefix("* guest3 joined") })
        _ = witness.readLines(until: { $0.hasPrefix("* guest3 joined") })

        let holder = try PostgresConnection(uri: database.cliURL)
        try holder.executeScript("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        // 15 MB: far more than the kernel holds for a socket nobody reads (the flooder's send buffer is kept
        // small; the server's receive buffer grows only while it reads).
        let count = 150_000
        let padding = String(repeating: "x", count: 80)
        flooder.setSendBuffer(64 * 1024)
        let flood = Array((1...count).map { "flood \($0) \(padding)\r\n" }.joined().utf8)
        let sent = NIOLockedValueBox(false)
        let shared = Unchecked(flooder)
        let flooding = Background {
            sent.withLockedValue { $0 = shared.value.send(flood, timeout: 120, whileBlocked: .discard) }
        }
        // The reader drains everything it is sent, noting the witness's line.
        let sharedReader = Unchecked(reader)
        let witnessSeen = NIOLockedValueBox(false)
        let floodSeen = NIOLockedValueBox(0)
        let stopReading = NIOLockedValueBox(false)
        let reading = Background {
            while !stopReading.withLockedValue({ $0 }) {
                guard let line = sharedReader.value.readLine(timeout: 0.2) else { continue }
                if line == "<guest2> witness line" { witnessSeen.withLockedValue { $0 = true } }
                if line.hasPrefix("<guest1> flood ") { floodSeen.withLockedValue { $0 += 1 } }
            }
        }

        try server.waitForLog(containing: "history is behind; holding back clients who say lines", timeout: 30)
        witness.send("witness line\r\n")
        let deadline = Date().addingTimeInterval(20)
        while !witnessSeen.withLockedValue({ $0 }) && Date() < deadline {
            _ = witness.readAvailable(discard: true)
            _ = flooding.wait(timeout: 0.05)
        }
        XCTAssertTrue(witnessSeen.withLockedValue { $0 }, "another client chats on while the flooder is held")
        XCTAssertFalse(flooding.wait(timeout: 0), "15 MB cannot all have left the flooder: the server stopped reading it")
        XCTAssertLessThan(floodSeen.withLockedValue { $0 }, count, "the flood is not all relayed while history is stalled")

        try holder.executeScript("COMMIT")
        let sharedWitness = Unchecked(witness)
        let witnessReading = Background {
            // The witness is sent the whole flood too: it keeps reading until the test is done.
            while !stopReading.withLockedValue({ $0 }) {
                var descriptor = pollfd(fd: sharedWitness.value.fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&descriptor, 1, 200)
                _ = sharedWitness.value.readAvailable(discard: true)
            }
        }
        XCTAssertTrue(flooding.wait(timeout: 120), "the flood finishes once history catches up")
        XCTAssertTrue(sent.withLockedValue { $0 }, "every byte of the flood was sent")
        var stored: Int64 = 0
        let storedBy = Date().addingTimeInterval(120)
        while stored < Int64(count + 1) && Date() < storedBy {
            stored = try holder.query("SELECT count(*) FROM messages", []).first?[0].int64 ?? 0
            _ = flooding.wait(timeout: 0.2)
        }
        XCTAssertEqual(stored, Int64(count + 1), "every line said is stored, none dropped")
        stopReading.withLockedValue { $0 = true }
        XCTAssertTrue(reading.wait(timeout: 10))
        XCTAssertTrue(witnessReading.wait(timeout: 10))
        XCTAssertEqual(server.log.count(containing: "history queue full"), 0, server.log.text.suffix(2_000).description)
        XCTAssertEqual(server.log.count(containing: "dropped"), 0)
        holder.close()
        await server.stop()
    }

    /// SIGTERM while PostgreSQL is down: the server exits 0 within its `--shutdown-timeout`, putting the lines
    /// it could not write in the spool; the next start (PostgreSQL back) replays them before it serves, so
    /// every line said is stored once and every row closed as `server shutdown`. (Before, the outage's lines
    /// were lost and the rows left open.)
    func testAStopDuringAnOutageSpoolsWhatItCouldNotWriteAndTheNextStartStoresIt() throws {
        let cluster = try RestartablePostgresCluster.make()
        let directory = try makeTemporaryDirectory()
        let spool = directory.appendingPathComponent("spool").path
        let arguments = ["--shutdown-timeout", "3", "--spool-dir", spool, "--flood-rate", "0"]
        let first = try ServerProcess.serve(database: cluster.url, in: directory, extraArguments: arguments)
        let (alice, _) = try joinClient(first)
        let (bob, bobWelcome) = try joinClient(first)
        alice.expect("* \(nickname(fromWelcome: bobWelcome)) joined (2 clients connected)")
        for n in 1...5 { alice.send("before \(n)\r\n") }
        for n in 1...5 { bob.expect("<guest1> before \(n)") }

        try cluster.stop()
        for n in 1...40 { alice.send("during \(n)\r\n") }
        for n in 1...40 { bob.expect("<guest1> during \(n)") }
        XCTAssertEqual(first.terminate(timeout: 20), 0, first.diagnosis)
        XCTAssertTrue(first.logText.contains("the rest is in the spool"), first.logTail(10))
        let files = try FileManager.default.contentsOfDirectory(atPath: spool)
        XCTAssertFalse(files.isEmpty, "the spool holds what the stop could not write")

        try cluster.start()
        let second = try ServerProcess.serve(database: cluster.url, in: directory, extraArguments: arguments)
        try second.waitForLog(containing: "replayed the history spool", timeout: 10)
        let connection = try PostgresConnection(uri: cluster.url)
        defer { connection.close() }
        let bodies = try connection.query("SELECT body FROM messages ORDER BY id", []).map { $0[0].string ?? "?" }
        XCTAssertEqual(bodies, (1...5).map { "before \($0)" } + (1...40).map { "during \($0)" }, "every line once, in order")
        let reasons = try connection.query("SELECT close_reason FROM connections ORDER BY id", []).map { $0[0].string ?? "open" }
        XCTAssertEqual(reasons, ["server shutdown", "server shutdown"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: spool), [], "the replayed spool is gone")
        XCTAssertEqual(second.terminate(timeout: 20), 0, second.diagnosis)
    }
}
