import Foundation
import Logging
import XCTest

/// What a logger logged, one entry per message, for assertions: the level, the message alone, and the
/// line `LEVEL message key=value …` (metadata sorted by key). Tests make a logger with
/// `Logger(label:) { _ in CapturingLogHandler(log: log) }` and can wait for a line to appear.
///
/// `@unchecked Sendable`: `entries` is only touched with `changed`'s lock held.
public final class CapturedLog: @unchecked Sendable {
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var line: String
    }

    /// `wait(containing:timeout:)` saw no such line in time.
    public struct Timeout: Error, CustomStringConvertible {
        public var needle: String
        public var description: String { "no log line containing '\(needle)'" }
    }

    private var entries: [Entry] = []
    private let changed = NSCondition()

    public init() {}

    public func append(_ entry: Entry) {
        changed.lock()
        entries.append(entry)
        changed.broadcast()
        changed.unlock()
    }

    private func withEntries<T>(_ body: ([Entry]) -> T) -> T {
        changed.lock()
        defer { changed.unlock() }
        return body(entries)
    }

    /// Every line, `LEVEL message key=value …`.
    public var lines: [String] { withEntries { $0.map(\.line) } }
    /// Every message, without level or metadata.
    public var messages: [String] { withEntries { $0.map(\.message) } }
    /// Every line, each ended by a newline.
    public var text: String { withEntries { $0.map { $0.line + "\n" }.joined() } }

    /// How many lines (at `level`, when given) contain `text`.
    public func count(level: Logger.Level? = nil, containing text: String) -> Int {
        withEntries { $0.filter { (level == nil || $0.level == level) && $0.line.contains(text) }.count }
    }

    /// Waits until a line contains `needle`, then returns the whole log; fails the test and throws when
    /// `timeout` passes first.
    @discardableResult
    public func wait(
        containing needle: String, timeout: TimeInterval, file: StaticString = #filePath, line: UInt = #line
    ) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        changed.lock()
        defer { changed.unlock() }
        func found() -> Bool { entries.contains { $0.line.contains(needle) } }
        while !found() {
            if !changed.wait(until: deadline) && !found() {
                let all = entries.map { $0.line + "\n" }.joined()
                XCTFail("timed out waiting for '\(needle)' in the log:\n\(all)", file: file, line: line)
                throw Timeout(needle: needle)
            }
        }
        return entries.map { $0.line + "\n" }.joined()
    }
}

/// A `LogHandler` that writes into a ``CapturedLog``; every level is kept.
public struct CapturingLogHandler: LogHandler {
    public let log: CapturedLog
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace
    public var metadataProvider: Logger.MetadataProvider?

    public init(log: CapturedLog) { self.log = log }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let pairs = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let message = event.message.description
        log.append(CapturedLog.Entry(
            level: event.level, message: message,
            line: ([event.level.rawValue, message] + pairs).joined(separator: " ")))
    }
}
