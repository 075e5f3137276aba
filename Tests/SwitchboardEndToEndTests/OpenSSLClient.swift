import Foundation
import SwitchboardTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A real TLS client for the end-to-end tests: `openssl s_client -quiet` (what the README tells people to
/// use) connected to 127.0.0.1, with the test writing its stdin and reading the lines it prints.
///
/// Reads never block without a deadline. The process is killed when the client is closed or deinitialised.
final class OpenSSLClient: @unchecked Sendable {
    // @unchecked Sendable: the output is read by `PipeReader`'s thread (it is Sendable and keeps its own
    // state); everything else is used by the test's thread alone.
    private let process = Process()
    private let input = Pipe()
    private let output: PipeReader

    /// Starts `openssl s_client -quiet -connect 127.0.0.1:port` plus `extraArguments` (e.g. `-tls1_2`).
    /// `quiet: false` leaves s_client's interactive commands on (a line `R` renegotiates) and its session
    /// details in the output, before the server's lines.
    init(port: Int, quiet: Bool = true, extraArguments: [String] = []) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            throw TestEnvironment.unavailable("openssl is not installed", providedByTestCommand: true)
        }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client"] + (quiet ? ["-quiet"] : [])
            + ["-connect", "127.0.0.1:\(port)"] + extraArguments
        let stdout = Pipe()
        process.standardInput = input
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        // Its own thread reads to the end: Foundation's readabilityHandler sometimes never reports the end of
        // a pipe, and "the server closed the connection" is that end (s_client exits). See PipeReader.
        output = PipeReader(stdout.fileHandleForReading)
        try process.run()
    }

    /// Writes `text` to the connection (add `\r\n` yourself).
    func send(_ text: String) {
        send(Array(text.utf8))
    }

    /// Writes raw bytes (telnet commands, say).
    func send(_ bytes: [UInt8]) {
        try? input.fileHandleForWriting.write(contentsOf: Data(bytes))
    }

    /// The next line the server sent (without CRLF), or `nil` on timeout or when the connection ended.
    func readLine(timeout: TimeInterval = 15) -> String? {
        output.wait(until: Date().addingTimeInterval(timeout)) { bytes in
            guard let newline = bytes.firstIndex(of: 10) else { return nil }
            var line = bytes[..<newline]
            if line.last == 13 { line = line.dropLast() }
            return (newline + 1, String(decoding: line, as: UTF8.self))
        }
    }

    /// Reads lines until one satisfies `predicate`; returns them all, the match last (or all read by the deadline).
    func readLines(until predicate: (String) -> Bool, timeout: TimeInterval = 15) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        var lines: [String] = []
        while let line = readLine(timeout: max(0, deadline.timeIntervalSinceNow)) {
            lines.append(line)
            if predicate(line) { break }
        }
        return lines
    }

    /// The next `count` raw bytes, or `nil` on timeout.
    func readBytes(_ count: Int, timeout: TimeInterval = 15) -> [UInt8]? {
        output.wait(until: Date().addingTimeInterval(timeout)) { bytes in
            bytes.count >= count ? (count, Array(bytes.prefix(count))) : nil
        }
    }

    /// Waits (bounded) until s_client's output ends (the server closed the connection); returns whether it did.
    func waitUntilClosed(timeout: TimeInterval = 15) -> Bool {
        output.waitForEnd(until: Date().addingTimeInterval(timeout))
    }

    /// Reads the welcome line; fails the test if it is not one.
    @discardableResult
    func expectWelcome(file: StaticString = #filePath, line: UInt = #line) -> String {
        let welcome = readLine() ?? "<nothing>"
        XCTAssertTrue(welcome.hasPrefix("* Welcome, "), welcome, file: file, line: line)
        return welcome
    }

    /// Ends s_client (and so the connection) at once.
    func close() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { close() }
}
