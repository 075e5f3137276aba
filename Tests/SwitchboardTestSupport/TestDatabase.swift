import Foundation
import XCTest
import SwitchboardDatabase

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

    /// The URL as the `switchboard` CLI takes it (`sqlite:PATH` or the PostgreSQL URI).
    public var cliURL: String {
        switch url {
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let parameters): return parameters.uri
        }
    }
}

/// Where the tests find their databases.
///
/// SQLite always. PostgreSQL when `SWITCHBOARD_TEST_POSTGRES_URL` is set (the README's test command starts
/// a throwaway cluster and sets it). In strict mode (``TestEnvironment/isStrict``: `scripts/test.sh`, CI) a
/// missing or unreachable PostgreSQL is a failure, never a silent skip.
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

    /// A fresh PostgreSQL database, or the skip (a failure in strict mode) that says why there is none.
    public static func requirePostgres() throws -> TestDatabase {
        guard let database = try postgres() else {
            throw TestEnvironment.unavailable(
                "PostgreSQL not configured: set \(postgresURLVariable) or run scripts/test.sh",
                providedByTestCommand: true)
        }
        return database
    }

    /// Runs `body` once per backend (``all()``) on a fresh database, dropped afterwards. An error thrown by
    /// the body fails the test with the backend's name and moves on to the next backend, so one backend's
    /// failure never hides the other's result.
    public static func forEach(
        file: StaticString = #filePath, line: UInt = #line, _ body: (TestDatabase) throws -> Void
    ) throws {
        for database in try all() {
            defer { database.drop() }
            do {
                try body(database)
            } catch {
                XCTFail("[\(database.url.dialect)] \(error)", file: file, line: line)
            }
        }
    }

    /// ``forEach(file:line:_:)`` for async bodies.
    public static func forEach(
        file: StaticString = #filePath, line: UInt = #line, _ body: (TestDatabase) async throws -> Void
    ) async throws {
        for database in try all() {
            do {
                try await body(database)
            } catch {
                XCTFail("[\(database.url.dialect)] \(error)", file: file, line: line)
            }
            database.drop()
        }
    }
}
