import Foundation
import SwitchboardTestSupport
import XCTest

/// ``PipeReader``, which the TLS tests' `openssl s_client` depends on to see a connection end: every
/// process's output is read whole and its end is seen. (Foundation's `readabilityHandler` missed the end of
/// a few percent of these runs, which made TLSEndToEndTests flaky.)
final class PipeReaderTests: XCTestCase {
    /// 200 short-lived processes in a row: each one's bytes arrive, then its end, well inside the bound (the
    /// bound only keeps a broken reader from hanging the suite).
    func testEveryProcessOutputIsReadToItsEnd() throws {
        for run in 0..<200 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "printf 'line %s\\n' \(run)"]
            let stdout = Pipe()
            process.standardOutput = stdout
            process.standardInput = FileHandle.nullDevice
            let reader = PipeReader(stdout.fileHandleForReading)
            try process.run()
            let deadline = Date().addingTimeInterval(30)
            let line = reader.wait(until: deadline) { bytes -> (consumed: Int, value: String)? in
                guard let newline = bytes.firstIndex(of: 10) else { return nil }
                return (newline + 1, String(decoding: bytes[..<newline], as: UTF8.self))
            }
            XCTAssertEqual(line, "line \(run)")
            XCTAssertTrue(reader.waitForEnd(until: deadline), "run \(run): the end of the output was not seen")
            process.waitUntilExit()
        }
    }

    /// Bytes that arrive in pieces are kept until a reader consumes them, and what is left is there after
    /// the end.
    func testBytesWaitForTheirReaderAcrossTheEnd() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "printf ab; sleep 0.1; printf cd"]
        let stdout = Pipe()
        process.standardOutput = stdout
        let reader = PipeReader(stdout.fileHandleForReading)
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        XCTAssertTrue(reader.waitForEnd(until: deadline))
        XCTAssertEqual(reader.wait(until: deadline) { $0.count >= 4 ? (4, String(decoding: $0, as: UTF8.self)) : nil }, "abcd")
        XCTAssertNil(reader.wait(until: deadline) { $0.isEmpty ? nil : (0, true) }, "the pipe ended: nothing more")
        process.waitUntilExit()
    }
}
