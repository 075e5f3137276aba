import Foundation
import SwitchboardDatabase
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `--max-line` means the same on PostgreSQL as on SQLite (README, "Several servers"): three real servers on
/// one PostgreSQL take `--max-line 65536`, and lines of 60 000 bytes — of U+FFFD as it is (60 000 bytes
/// relayed), and of invalid bytes, which the sanitiser turns into 60 000 U+FFFD (180 000 bytes) — reach every
/// client on the other servers whole and in order, through the `cluster_payloads` table, which is empty
/// afterwards.
final class ClusterLargeLineEndToEndTests: XCTestCase {
    func testSixtyThousandByteLinesCrossThreeServersWhole() throws {
        let postgres = try TestDatabases.requirePostgres()
        defer { postgres.drop() }
        let directory = try makeTemporaryDirectory()
        // The send queue holds the burst of large lines each client is sent before it starts reading.
        let servers = try (0..<3).map { _ in
            try ServerProcess.serve(
                database: postgres.cliURL, in: directory,
                extraArguments: ["--max-line", "65536", "--max-sendq", "16777216", "--flood-rate", "0"])
        }
        defer { servers.forEach { $0.kill() } }
        let names = ["ann", "ben", "cat"]
        var clients: [LineClient] = []
        for (index, server) in servers.enumerated() {
            let client = try LineClient(port: server.port)
            XCTAssertEqual(client.readLine()?.hasPrefix("* Welcome, "), true)
            client.send("/nick \(names[index])\r\n")
            let seen = client.readLines(until: { $0.hasSuffix(" is now known as \(names[index])") || $0.hasPrefix("!") })
            XCTAssertEqual(seen.last?.hasSuffix("is now known as \(names[index])"), true, "\(seen)")
            clients.append(client)
        }
        for client in clients { waitForCount(client, 3) }

        let valid = String(repeating: "\u{FFFD}", count: 20_000)  // 60 000 bytes of UTF-8, relayed as they are
        let invalid = [UInt8](repeating: 0xFE, count: 60_000)  // each byte becomes U+FFFD: 180 000 bytes
        let sanitised = String(repeating: "\u{FFFD}", count: 60_000)
        let whisper = String(repeating: "\u{FFFD}", count: 16_000)  // /msg NAME and 48 000 bytes
        XCTAssertEqual(valid.utf8.count, 60_000)
        for (index, client) in clients.enumerated() {
            XCTAssertTrue(client.send(Array("\(valid)\r\n".utf8)))
            XCTAssertTrue(client.send(invalid + [13, 10]))
            XCTAssertTrue(client.send("/msg \(names[(index + 1) % 3]) \(whisper)\r\n"))
            XCTAssertTrue(client.send("done \(index)\r\n"))
        }

        for (index, client) in clients.enumerated() {
            let others = [(index + 1) % 3, (index + 2) % 3]
            var done = Set<Int>()
            let lines = client.readLines(until: { line in
                for other in others where line == "<\(names[other])> done \(other)" { done.insert(other) }
                return done.count == 2
            }, timeout: 120)
            XCTAssertEqual(done.count, 2, "client \(index) saw both markers; \(lines.count) lines, last: \(lines.last?.prefix(80) ?? "")")
            for other in others {
                let said = lines.filter { $0.hasPrefix("<\(names[other])> ") }
                XCTAssertEqual(
                    said.map(\.utf8.count), ["<\(names[other])> ".utf8.count + 60_000, "<\(names[other])> ".utf8.count + 180_000, "<\(names[other])> done \(other)".utf8.count],
                    "client \(index): \(names[other])'s lines, whole and in order")
                XCTAssertEqual(said, ["<\(names[other])> \(valid)", "<\(names[other])> \(sanitised)", "<\(names[other])> done \(other)"])
            }
            let sender = names[(index + 2) % 3]
            XCTAssertEqual(lines.filter { $0.hasPrefix("*\(sender)* ") }, ["*\(sender)* \(whisper)"], "client \(index)'s /msg")
        }

        // Every row was read by both other servers, and the last of them deleted it.
        let connection = try directConnection(postgres.cliURL)
        let deadline = Date().addingTimeInterval(30)
        var rows: Int64 = -1
        repeat {
            rows = try connection.query("SELECT count(*) FROM cluster_payloads", []).first?.first?.int64 ?? -1
            if rows == 0 { break }
            usleep(50_000)
        } while Date() < deadline
        XCTAssertEqual(rows, 0, "cluster_payloads is empty once every line was read")
        // History stores the lines as sanitised.
        let longest = try connection.query("SELECT max(octet_length(body)) FROM messages", []).first?.first?.int64
        XCTAssertEqual(longest, 180_000)
        withExtendedLifetime(clients) {}
    }
}
