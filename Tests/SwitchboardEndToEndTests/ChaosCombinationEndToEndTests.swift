import Foundation
import NIOConcurrencyHelpers
import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase

#if canImport(Glibc)
import Glibc
#endif

/// The bad day all at once, against the real binary on PostgreSQL: flooders (`--flood-rate 0`), the
/// server's descriptors used up by idle connections (accepts pause), PostgreSQL stopped mid-chat, and
/// SIGTERM during the outage. The server exits 0 in time; the next start, PostgreSQL back, replays the
/// spool; every line the witnesses said — and the server took (a `/count` reply after their last line
/// proves it) — is stored.
final class ChaosCombinationEndToEndTests: XCTestCase {
    static let witnessCount = 2
    static let flooderCount = 3
    /// Lines each flooder sends, as fast as TCP takes them.
    static let floodLines = 20_000

    func testFloodDescriptorExhaustionAndAnOutageThenSIGTERMLoseNoWitnessLine() throws {
        let cluster = try RestartablePostgresCluster.make()
        let directory = try makeTemporaryDirectory()
        let arguments = [
            "--flood-rate", "0", "--shutdown-timeout", "5", "--spool-dir", directory.appendingPathComponent("spool").path,
        ]
        let server = try ServerProcess.serve(database: cluster.url, in: directory, extraArguments: arguments)
        let port = server.port
        let report = ChaosReport()
        let speaking = NIOLockedValueBox(true)
        let started = StartLine(parties: Self.witnessCount + Self.flooderCount + 1)

        // Witnesses: a tagged line every 100 ms while `speaking`, reading everything; then a /count reply
        // proves the server took every line before it.
        let witnessTags = NIOLockedValueBox<[String]>([])
        let witnessesDone = DispatchGroup()
        for index in 0..<Self.witnessCount {
            witnessesDone.enter()
            Thread {
                defer { witnessesDone.leave() }
                guard let client = try? LineClient(port: port), client.readLine(timeout: 15)?.hasPrefix("* Welcome") == true
                else { return report.violation("witness \(index) was not welcomed") }
                started.arriveAndWait()
                var sent: [String] = []
                var next = Date()
                while speaking.withLockedValue({ $0 }) && !client.isClosedByServer {
                    if Date() >= next {
                        let tag = "combo-witness w\(index) n\(sent.count)"
                        client.send(tag + "\r\n", whileBlocked: .discard)
                        sent.append(tag)
                        next = next.addingTimeInterval(0.1)
                    }
                    _ = client.readAvailable(discard: true)
                    var descriptor = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
                    _ = poll(&descriptor, 1, 20)
                }
                client.send("/count\r\n", whileBlocked: .discard)
                let lines = client.readLines(until: { $0.hasPrefix("* ") && $0.hasSuffix(" in total") }, timeout: 60)
                if lines.last?.hasSuffix(" in total") != true {
                    report.violation("witness \(index): no /count reply after its \(sent.count) lines")
                }
                witnessTags.withLockedValue { $0 += sent }
            }.start()
        }
        // Flooders: lines as fast as TCP takes them, reading (and dropping) what they are sent.
        let floodersDone = DispatchGroup()
        for index in 0..<Self.flooderCount {
            floodersDone.enter()
            Thread {
                defer { floodersDone.leave() }
                guard let client = try? LineClient(port: port), client.readLine(timeout: 15)?.hasPrefix("* Welcome") == true
                else { return report.violation("flooder \(index) was not welcomed") }
                started.arriveAndWait()
                let flood = Array((0..<Self.floodLines).map { "flood f\(index) \($0) the quick brown fox\r\n" }.joined().utf8)
                if !client.send(flood, timeout: 120, whileBlocked: .discard) {
                    report.violation("flooder \(index) could not send its flood within 120 s")
                }
            }.start()
        }
        XCTAssertTrue(started.arriveAndWait(), "witnesses and flooders joined")

        // Descriptors: lower the limit under what is open, then fill the backlog with idle connections.
        let limit = Process()
        limit.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        limit.arguments = ["--pid", "\(server.pid)", "--nofile=64:64"]
        try limit.run()
        limit.waitUntilExit()
        XCTAssertEqual(limit.terminationStatus, 0, "prlimit failed")
        var idle: [LineClient] = []
        for _ in 0..<150 { if let client = try? LineClient(connectingTo: port) { idle.append(client) } }
        try server.waitForLog(containing: "pausing accepts", timeout: 30)

        // PostgreSQL goes away mid-chat; the chat goes on.
        try cluster.stop()
        try server.waitForLog(containing: "history write failed; events stay queued", timeout: 30)
        // Two more seconds of chat during the outage: the witnesses' pace, not a synchronisation.
        let outageChat = Date().addingTimeInterval(2)
        while Date() < outageChat { usleep(100_000) }
        speaking.withLockedValue { $0 = false }
        XCTAssertEqual(witnessesDone.wait(timeout: .now() + 90), .success, "witnesses finished")

        // SIGTERM during the outage: exit 0 within the shutdown timeout, the rest in the spool.
        let status = server.terminate(timeout: 30)
        XCTAssertEqual(status, 0, server.diagnosis)
        XCTAssertTrue(server.logText.contains("the rest is in the spool"), server.logTail(10))
        _ = floodersDone.wait(timeout: .now() + 30)
        for client in idle { client.close() }

        try cluster.start()
        let next = try ServerProcess.serve(database: cluster.url, in: directory, extraArguments: arguments)
        try next.waitForLog(containing: "replayed the history spool", timeout: 60)
        let sent = Set(witnessTags.withLockedValue { $0 })
        let connection = try PostgresConnection(uri: cluster.url)
        defer { connection.close() }
        let stored = Set(try connection.query("SELECT body FROM messages WHERE body LIKE 'combo-witness %'", [])
            .compactMap { $0.first?.string })
        XCTAssertGreaterThan(sent.count, Self.witnessCount * 20, "the witnesses barely spoke")
        let missing = sent.subtracting(stored).sorted()
        XCTAssertEqual(missing.count, 0, "\(missing.count) of \(sent.count) witness lines are not stored, e.g. \(missing.prefix(5))")
        XCTAssertEqual(report.violations, [])
        let open = try connection.query("SELECT count(*) FROM connections WHERE disconnected_at IS NULL", [])
        XCTAssertEqual(open.first?.first?.int64, 0, "every row closed")
        XCTAssertEqual(next.terminate(timeout: 30), 0, next.diagnosis)
    }
}
