import Foundation
import NIOConcurrencyHelpers
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The real `switchboard` binary, built next to this test bundle, run as a child process.
///
/// Readiness and facts come from its stderr log (never from sleeping): ``start(_:)`` waits, bounded, for
/// the `listening` line and reads the bound port from it.
final class ServerProcess: @unchecked Sendable {
    // @unchecked Sendable: only the pipe's reader thread and the termination handler run off the test's
    // thread, and they touch only `log` (behind its lock), `logChanged` and `exited` (thread-safe). `port`
    // and `exitStatus` are read and written by the test thread alone.
    let process = Process()
    private let log = NIOLockedValueBox("")
    private let logChanged = NSCondition()
    private let exited = DispatchSemaphore(value: 0)
    private(set) var port = 0
    let workingDirectory: URL

    /// The directory holding the built products (`.build/debug`).
    static var productsDirectory: URL {
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    static var binary: URL { productsDirectory.appendingPathComponent("switchboard") }

    /// The built binary, or the skip (a failure under `scripts/test.sh`, which builds it) that says it is
    /// missing.
    static func requireBinary() throws -> URL {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw TestEnvironment.unavailable(
                "the switchboard binary is not built at \(binary.path) (swift build --build-tests)",
                providedByTestCommand: true)
        }
        return binary
    }

    /// Points `process` at the binary with `arguments`, in `directory`, with this environment minus
    /// `DATABASE_URL` (so a developer's own setting cannot leak into a test) plus `environment`.
    static func configure(_ process: Process, arguments: [String], in directory: URL, environment: [String: String]) {
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = ChildProcess.environment(adding: environment)
    }

    init(arguments: [String], workingDirectory: URL, environment: [String: String] = [:]) {
        self.workingDirectory = workingDirectory
        ServerProcess.configure(process, arguments: arguments, in: workingDirectory, environment: environment)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [exited] _ in exited.signal() }
        errors.fileHandleForReading.readabilityHandler = { [log, logChanged] handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                return
            }
            log.withLockedValue { $0 += String(decoding: data, as: UTF8.self) }
            logChanged.lock()
            logChanged.broadcast()
            logChanged.unlock()
        }
    }

    /// Starts `switchboard serve` on an ephemeral loopback port and waits until it listens. `logLevel` nil
    /// leaves the level to the configuration (a file, the environment).
    static func serve(
        database: String, in directory: URL, extraArguments: [String] = [], logLevel: String? = "debug",
        environment: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line
    ) throws -> ServerProcess {
        let server = ServerProcess(
            arguments: ["serve", "--listen", "tcp:0:interface=127.0.0.1", "--database", database]
                + (logLevel.map { ["--log-level", $0] } ?? []) + extraArguments,
            workingDirectory: directory, environment: environment)
        _ = try requireBinary()
        try server.process.run()
        let text = try server.waitForLog(containing: "[SwitchboardChat] listening", timeout: 60, file: file, line: line)
        guard let range = text.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression),
            let port = Int(text[range].split(separator: ":").last ?? "")
        else {
            // A changed "listening" line must fail every end-to-end test loudly, never skip them.
            server.kill()
            XCTFail("the server logged 'listening' without 'address=127.0.0.1:PORT':\n\(text)", file: file, line: line)
            throw ServerProcessError.noPort(text)
        }
        server.port = port
        return server
    }

    /// Everything the process has logged so far.
    var logText: String { log.withLockedValue { $0 } }

    /// Waits (bounded) until the log contains `needle`; returns the log. Fails if the process exits first.
    @discardableResult
    func waitForLog(containing needle: String, timeout: TimeInterval = 30, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        logChanged.lock()
        defer { logChanged.unlock() }
        while true {
            let text = logText
            if text.contains(needle) { return text }
            if !process.isRunning && !text.contains(needle) {
                // The process is gone; give the pipe a moment to deliver its last bytes via the condition.
                if !logChanged.wait(until: min(deadline, Date().addingTimeInterval(1))) {
                    XCTFail("server exited (status \(process.terminationStatus)) before logging '\(needle)':\n\(text)", file: file, line: line)
                    throw ServerProcessError.exited(text)
                }
                continue
            }
            if !logChanged.wait(until: deadline) {
                XCTFail("timed out waiting for '\(needle)' in the server log:\n\(text)", file: file, line: line)
                throw ServerProcessError.timedOut(text)
            }
        }
    }

    /// Waits (bounded) until the log contains `needle` at least `count` times; returns the log.
    @discardableResult
    func waitForLog(
        containing needle: String, count: Int, timeout: TimeInterval = 30, file: StaticString = #filePath, line: UInt = #line
    ) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        logChanged.lock()
        defer { logChanged.unlock() }
        while true {
            let text = logText
            if text.components(separatedBy: needle).count - 1 >= count { return text }
            if !process.isRunning || !logChanged.wait(until: deadline) {
                XCTFail("'\(needle)' did not appear \(count) times in the server log:\n\(text)", file: file, line: line)
                throw ServerProcessError.timedOut(text)
            }
        }
    }

    /// Sends SIGTERM and waits (bounded) for exit; returns the exit status.
    @discardableResult
    func terminate(timeout: TimeInterval = 30) -> Int32 {
        process.terminate()
        return waitForExit(timeout: timeout)
    }

    /// SIGKILL: the process gets no chance to clean up.
    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        _ = waitForExit(timeout: 30)
    }

    /// Waits (bounded) for the process to exit; SIGKILLs it and returns -1 if it does not.
    func waitForExit(timeout: TimeInterval) -> Int32 {
        if exitStatus == nil {
            if exited.wait(timeout: .now() + timeout) == .timedOut {
                Glibc.kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                exitStatus = -1
            } else {
                process.waitUntilExit()
                exitStatus = process.terminationStatus
            }
        }
        return exitStatus ?? -1
    }
    private var exitStatus: Int32?

    /// The server's resident memory in KiB (from /proc).
    var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}

enum ServerProcessError: Error {
    case exited(String)
    case timedOut(String)
    case noPort(String)
}

/// Runs the `switchboard` binary to completion (CLI subcommands) and returns status, stdout and stderr
/// (SIGKILLed after two minutes, so a hang fails instead of stalling the suite).
func runSwitchboard(
    _ arguments: [String], in directory: URL, environment: [String: String] = [:], input: String? = nil
) throws -> (status: Int32, output: String, errors: String, signaled: Bool) {
    let result = try ChildProcess.run(
        ServerProcess.requireBinary().path, arguments, in: directory,
        environment: ChildProcess.environment(adding: environment), timeout: 120, input: input)
    return (result.status, result.output, result.errors, result.signaled)
}

/// Runs the switchboard binary until it exits or `deadline` seconds pass (then SIGKILLs it); returns the
/// exit status (-1 when killed), everything it wrote to stdout and stderr, and how long it ran.
func runSwitchboardBounded(
    _ arguments: [String], in directory: URL, deadline: TimeInterval = 15
) throws -> (status: Int32, output: String, seconds: TimeInterval) {
    let result = try ChildProcess.run(
        ServerProcess.requireBinary().path, arguments, in: directory, timeout: deadline, mergeErrors: true)
    return (result.status, result.output, result.seconds)
}
