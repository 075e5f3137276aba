import Foundation
import SwitchboardTestSupport
import XCTest

/// Memory comes back: connections that came and went leave nothing behind, and what a crowd freed is
/// returned to the system once it has left. The real binary, its resident set read from /proc.
final class MemoryEndToEndTests: XCTestCase {
    /// Connects `count` clients, `batch` at a time, each waiting for its welcome, then closes them.
    private func churn(_ count: Int, port: Int, batch: Int = 64) throws {
        var done = 0
        while done < count {
            let clients = try LineClient.connectMany(min(batch, count - done), port: port, parallel: batch, timeout: 60)
            for client in clients { client.close() }
            done += clients.count
        }
    }

    /// 20 000 connections, one after another (64 at a time), grow the server's resident set by less than
    /// 8 MB (each used to keep about 1 KB: its session and channel, held in a cycle); then a crowd of 3 000
    /// joins and leaves at once, and within 20 s at least half of what it took is given back.
    func testChurnLeavesNothingBehindAndACrowdsMemoryComesBack() throws {
        ProcessFacts.raiseOpenFileLimit()
        let directory = try makeTemporaryDirectory()
        let server = try ServerProcess.serve(
            database: "sqlite:\(directory.path)/m.sqlite", in: directory, extraArguments: ["--notice-rate", "20"])
        try churn(1_000, port: server.port)  // one-time allocations (caches, pools) belong to the baseline
        let baseline = try XCTUnwrap(server.residentKiB)
        try churn(20_000, port: server.port)
        let afterChurn = try XCTUnwrap(server.residentKiB)
        print("memory: \(baseline / 1024) MiB after 1 000 connections, \(afterChurn / 1024) MiB after 20 000 more")
        XCTAssertLessThan(afterChurn - baseline, 8 * 1024, "20 000 connections that came and went kept memory: \(baseline) → \(afterChurn) KiB")

        let crowd = try LineClient.connectMany(3_000, port: server.port, parallel: 256, timeout: 120)
        let peak = try XCTUnwrap(server.residentKiB)
        for client in crowd { client.close() }
        // At least half of what the crowd took comes back (glibc keeps the rest spread over its arenas).
        let target = afterChurn + (peak - afterChurn) / 2
        var now = peak
        let deadline = Date().addingTimeInterval(20)
        while now > target && Date() < deadline {
            usleep(250_000)  // sampling the resident set while the server's trimmer looks every second
            now = server.residentKiB ?? now
        }
        print("memory: \(peak / 1024) MiB with a crowd of 3 000, \(now / 1024) MiB after it left")
        XCTAssertLessThanOrEqual(now, target, "the crowd's memory did not come back: \(afterChurn) → \(peak) → \(now) KiB")
        XCTAssertEqual(server.terminate(timeout: 20), 0, server.diagnosis)
    }
}
