import Foundation
import SwitchboardStorage

/// A throwaway database for one test: a SQLite file in a fresh temporary directory, or a fresh PostgreSQL
/// database created on the test server. ``drop()`` removes it.
public struct TestDatabase: Sendable, CustomStringConvertible {
    public let url: DatabaseURL
    private let cleanup: @Sendable () -> Void

    public init(url: DatabaseURL, cleanup: @escaping @Sendable () -> Void) {
        self.url = url
        self.cleanup = cleanup
    }

    public func drop() { cleanup() }

    public var description: String { url.redacted }
}

/// Where the tests find their databases.
///
/// SQLite always. PostgreSQL when `SWITCHBOARD_TEST_POSTGRES_URL` is set (the README's test command starts
/// a throwaway cluster and sets it). When `CI` is set, a missing or unreachable PostgreSQL is a failure,
/// never a silent skip.
public enum TestDatabases {
    /// A new SQLite file in a new temporary directory.
    public static func sqlite() throws -> TestDatabase {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("switchboard-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("history.sqlite").path
        return TestDatabase(url: .sqlite(path: path)) {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Every backend the tests can reach: SQLite, plus PostgreSQL when configured (see type docs).
    public static func all() throws -> [TestDatabase] {
        var databases = [try sqlite()]
        if let postgres = try postgres() { databases.append(postgres) }
        return databases
    }

    /// Whether we run under CI, where PostgreSQL tests must not be skipped.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty } ?? false }
}
