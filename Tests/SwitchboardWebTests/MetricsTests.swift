import CoreMetrics
import Foundation
import NIOCore
import Prometheus
import SwitchboardChat
import SwitchboardDatabase
import SwitchboardTestSupport
import XCTest

@testable import SwitchboardWeb

/// The Prometheus endpoint: Prometheus' own checker accepts it, values move as clients act, and no label
/// carries a nickname or an address.
final class MetricsTests: XCTestCase {
    private func scrape(_ server: WebTestServer) async throws -> String {
        let client = try await RawHTTPClient.connect(port: server.metricsPort)
        try await client.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let response = try await client.untilClosed().responses[0]
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        return response.body
    }

    /// The value of the series `name{labels}` (exactly as written in the scrape), or `nil`.
    private func value(_ series: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// `promtool check metrics` (Debian's `prometheus`) passes the scrape.
    private func checkWithPromtool(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let promtool else {
            throw TestEnvironment.unavailable("promtool not installed (Debian's prometheus package)", providedByTestCommand: true)
        }
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).txt")
        try Data(text.utf8).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let result = try ChildProcess.run("/bin/sh", ["-c", "'\(promtool)' check metrics < '\(input.path)'"], mergeErrors: true)
        XCTAssertEqual(result.status, 0, "promtool: \(result.output)", file: file, line: line)
    }

    /// The scrape passes promtool before and after traffic; the counters and gauges follow what two telnet
    /// clients do; nothing identifies a person.
    func testTheScrapePassesPromtoolAndItsValuesMoveAsClientsAct() async throws {
        let server = try await WebTestServer.start(metrics: true, for: self)
        let before = try await scrape(server)
        try checkWithPromtool(before)
        XCTAssertEqual(value("switchboard_clients_connected{transport=\"telnet\"}", in: before), 0)
        XCTAssertEqual(value("switchboard_build_info{version=\"\(SwitchboardVersion.current)\"}", in: before), 1)

        let alice = try await RawHTTPClient.connect(port: server.chatPort)
        _ = try await alice.waitFor("Welcome")
        let bob = try await RawHTTPClient.connect(port: server.chatPort)
        _ = try await bob.waitFor("Welcome")
        try await alice.send("hello from alice\r\n")
        _ = try await bob.waitFor("hello from alice")
        let during = try await scrape(server)
        XCTAssertEqual(value("switchboard_clients_connected{transport=\"telnet\"}", in: during), 2)
        XCTAssertEqual(value("switchboard_connections_accepted_total{transport=\"telnet\"}", in: during), 2)
        XCTAssertEqual(value("switchboard_lines_received_total", in: during), 1)
        XCTAssertGreaterThanOrEqual(value("switchboard_deliveries_total", in: during) ?? 0, 2, "the join notice and the line")
        XCTAssertGreaterThan(value("switchboard_received_bytes_total", in: during) ?? 0, 0)
        XCTAssertGreaterThan(value("switchboard_sent_bytes_total", in: during) ?? 0, 0)

        try await alice.send("/quit lunch\r\n")
        _ = try await alice.untilClosed()
        _ = try await bob.waitFor("left (lunch)")
        var after = try await scrape(server)
        XCTAssertEqual(value("switchboard_clients_connected{transport=\"telnet\"}", in: after), 1)
        XCTAssertEqual(value("switchboard_connections_closed_total{reason=\"quit\"}", in: after), 1)
        // History is written behind the chat: wait (bounded) for the batches to land.
        let deadline = NIODeadline.now() + .seconds(10)
        while (value("switchboard_history_events_written_total", in: after) ?? 0) < 4, NIODeadline.now() < deadline {
            try await Task.sleep(for: .milliseconds(50))  // paces the polling; the condition decides
            after = try await scrape(server)
        }
        XCTAssertGreaterThanOrEqual(value("switchboard_history_events_written_total", in: after) ?? 0, 4, "2 opens, a line, a close")
        XCTAssertGreaterThanOrEqual(value("switchboard_history_batch_duration_seconds_count", in: after) ?? 0, 1)
        try checkWithPromtool(after)
        for secret in ["guest", "127.0.0.1", "lunch", "hello"] {
            XCTAssertFalse(after.contains(secret), "no label carries \(secret)")
        }
        await bob.close()
    }

    /// Updates add what grew since the last one (never twice), through the injected factory's registry, with
    /// no process-wide bootstrap.
    func testUpdatesAddOnlyWhatGrew() {
        let registry = PrometheusCollectorRegistry()
        let metrics = SwitchboardMetrics(
            factory: DescribedPrometheusFactory(registry: registry, descriptions: SwitchboardMetrics.descriptions),
            version: "test")
        var chat = ChatCounters()
        chat.linesIn = 5
        chat.closed = ["idle_timeout": 2]
        var snapshot = ChatServerSnapshot(
            chat: chat, historyQueued: 7, historyWritten: 10, historyDropped: 0, pool: .init(), cluster: nil, serversAlive: 1)
        metrics.update(from: snapshot)
        metrics.update(from: snapshot)
        snapshot.chat.linesIn = 8
        metrics.update(from: snapshot)
        let text = registry.emitToString()
        XCTAssertEqual(value("switchboard_lines_received_total", in: text), 8)
        XCTAssertEqual(value("switchboard_connections_closed_total{reason=\"idle_timeout\"}", in: text), 2)
        XCTAssertEqual(value("switchboard_history_events_queued", in: text), 7)
        XCTAssertTrue(text.contains("# HELP switchboard_lines_received_total "))
    }
}
