import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The four executables as a user runs them: `--listen` takes an endpoint string, and a bad one, or one that
/// cannot be listened on, is said in one line. (Everything else is tested in-process.)
final class ExampleCommandTests: XCTestCase {
    static let examples = ["upper", "counting", "proxy", "caching-proxy"]

    /// An endpoint that does not parse is refused with the reason, before anything starts (exit status 64).
    func testEveryExampleRefusesABadEndpointInOneLine() throws {
        for name in Self.examples {
            let result = try run(name, ["--listen", "gopher:70"])
            XCTAssertEqual(result.status, 64, "\(name): \(result.errors)")
            XCTAssertTrue(
                result.errors.contains("Error: invalid endpoint 'gopher:70': unknown endpoint type 'gopher'"),
                "\(name): \(result.errors)")
        }
    }

    /// An endpoint that cannot be listened on (its directory does not exist) is said with the endpoint and the
    /// system's reason (exit status 1).
    func testAnEndpointThatCannotBeListenedOnIsSaidInOneLine() throws {
        let result = try run("upper", ["--listen", "unix:/nonexistent-directory/upper.sock"])
        XCTAssertEqual(result.status, 1, result.errors)
        XCTAssertTrue(result.errors.contains("cannot listen on unix:/nonexistent-directory/upper.sock: "), result.errors)
    }

    /// `upper --listen unix:PATH` serves on that socket.
    func testUpperServesOnTheEndpointItIsGiven() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sbx-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("upper.sock").path

        let process = Process()
        process.executableURL = Self.binary("upper")
        process.arguments = ["--listen", "unix:\(path)"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let log = Self.read(errors.fileHandleForReading, until: "listening on unix:\(path)", timeout: 30)
        XCTAssertTrue(log.contains("listening on unix:\(path)"), log)

        let client = try LineClient(unixPath: path)
        client.send(line: "hello from the command line")
        XCTAssertEqual(client.readLine(), "HELLO FROM THE COMMAND LINE")
    }

    // MARK: - Helpers

    /// The directory holding the built products (`.build/debug`).
    static var productsDirectory: URL {
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    static func binary(_ name: String) -> URL { productsDirectory.appendingPathComponent(name) }

    /// Runs an example to its end (bounded: killed after `timeout` seconds); its status and stderr.
    private func run(_ name: String, _ arguments: [String], timeout: TimeInterval = 30) throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = Self.binary(name)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            XCTFail("\(name) \(arguments) still running after \(timeout) s")
            exited.wait()
        }
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, text)
    }

    /// Reads `handle` until the text read contains `marker`, the writer closes it, or `timeout` passes.
    private static func read(_ handle: FileHandle, until marker: String, timeout: TimeInterval) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var text = ""
        var descriptor = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
        while !text.contains(marker) {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0, poll(&descriptor, 1, Int32(remaining * 1000) + 1) > 0 else { break }
            let data = handle.availableData
            guard !data.isEmpty else { break }
            text += String(decoding: data, as: UTF8.self)
        }
        return text
    }
}
