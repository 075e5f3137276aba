import Foundation
import SwitchboardTestSupport
import XCTest

/// Command-line flags: out-of-range values say their range, errors show the right usage.
final class CLIFlagsEndToEndTests: XCTestCase {
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let directory = try makeTemporaryDirectory()
        let result = try runSwitchboard(arguments, in: directory)
        return (result.status, result.output, result.errors)
    }

    /// A negative number is read as a value and refused with its range, not as a missing value.
    func testNegativeNumbersAreRefusedWithTheirRange() throws {
        let flood = try run(["serve", "--flood-rate", "-1"])
        XCTAssertNotEqual(flood.status, 0)
        XCTAssertTrue(flood.errors.contains("--flood-rate must be 0 (no flood control) or more"), flood.errors)
        XCTAssertFalse(flood.errors.contains("Missing value"), flood.errors)

        let limit = try run(["history", "--limit", "-1"])
        XCTAssertNotEqual(limit.status, 0)
        XCTAssertTrue(limit.errors.contains("--limit must be 1 or more"), limit.errors)
        XCTAssertFalse(limit.errors.contains("Missing value"), limit.errors)
    }

    /// A bad `--database` on `serve` is reported with `serve`'s usage.
    func testBadDatabaseOnServeShowsServeUsage() throws {
        let result = try run(["serve", "--database", "mysql://x"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.errors.contains("unsupported database URL"), result.errors)
        XCTAssertTrue(result.errors.contains("Usage: switchboard serve"), result.errors)
    }

    /// An IPv6 interface without brackets gets told to use them.
    func testUnbracketedIPv6InterfaceSaysToUseBrackets() throws {
        let result = try run(["serve", "--listen", "tcp:8000:interface=::1"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.errors.contains("interface=[::1]"), result.errors)
    }

    /// An IPv4 interface followed by the `reuseport` flag is not mistaken for an IPv6 address (the bad
    /// `--max-line` makes the run stop right after the endpoints are checked).
    func testIPv4InterfaceBeforeReusePortIsAccepted() throws {
        let result = try run(["serve", "--listen", "tcp:0:interface=127.0.0.1:reuseport", "--max-line", "1"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertFalse(result.errors.contains("brackets"), result.errors)
        XCTAssertTrue(result.errors.contains("--max-line must be"), result.errors)
    }

    /// `migrate` counts migrations in words (`1 migration`, `6 migrations`): as many as `Migrations/sqlite` holds.
    func testMigrateCountsMigrationsInWords() throws {
        let count = try MigrationFile.all(dialect: "sqlite").count
        let directory = try makeTemporaryDirectory()
        let first = try runSwitchboard(["migrate", "--database", "sqlite:db.sqlite"], in: directory)
        XCTAssertEqual(first.status, 0, first.errors)
        let again = try runSwitchboard(["migrate", "--database", "sqlite:db.sqlite"], in: directory)
        XCTAssertEqual(again.status, 0, again.errors)
        XCTAssertTrue(again.output.hasSuffix("up to date (\(count) migrations applied earlier)\n"), again.output)
    }

    /// `Benchmarks/run.sh --help` and `-h` (and `tls.sh`'s, `websocket.sh`'s and `moderation.sh`'s) print the usage and exit 0 at once
    /// instead of starting a run.
    func testBenchmarkScriptHelpPrintsUsage() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for (script, flag) in [("run.sh", "--help"), ("run.sh", "-h"), ("tls.sh", "--help"), ("tls.sh", "-h"),
                               ("websocket.sh", "--help"), ("websocket.sh", "-h"), ("moderation.sh", "--help")] {
            let process = Process()
            // Its own process group (setsid), so a run that starts by mistake can be stopped whole.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
            process.arguments = ["/bin/bash", root.appendingPathComponent("Benchmarks/\(script)").path, flag]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let finished = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                process.waitUntilExit()
                finished.signal()
            }
            if finished.wait(timeout: .now() + 10) == .timedOut {
                kill(-process.processIdentifier, SIGTERM)
                XCTFail("\(script) \(flag) started a benchmark run")
                return
            }
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(process.terminationStatus, 0, "\(script) \(flag)")
            XCTAssertTrue(text.contains("Benchmarks/\(script)"), text)
        }
    }
}
