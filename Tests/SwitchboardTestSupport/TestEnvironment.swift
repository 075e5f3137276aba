import Foundation
import XCTest

/// What the test command (`scripts/test.sh`) promises about the environment, and the one way a test skips.
///
/// `scripts/test.sh` exports `SWITCHBOARD_TEST_STRICT=1`: it provides PostgreSQL (a throwaway cluster, or
/// `SWITCHBOARD_TEST_POSTGRES_URL`), PostgreSQL's server binaries (for tests that stop and restart a cluster
/// of their own) and a debug build of the `switchboard` binary. In strict mode a test that finds one of those
/// missing fails instead of skipping, so a suite can never go green by skipping what it was meant to check.
/// `CI` (set by CI runners) turns strict mode on too.
public enum TestEnvironment {
    /// The variable `scripts/test.sh` sets to `1`.
    public static let strictVariable = "SWITCHBOARD_TEST_STRICT"

    /// Whether a missing piece that the test command provides is a failure rather than a skip.
    public static var isStrict: Bool {
        let environment = ProcessInfo.processInfo.environment
        if environment[strictVariable].map({ !$0.isEmpty && $0 != "0" }) ?? false { return true }
        return environment["CI"].map { !$0.isEmpty && $0 != "false" && $0 != "0" } ?? false
    }

    /// The error to throw when a test cannot run here: an `XCTSkip`, or — in strict mode, when
    /// `providedByTestCommand` says `scripts/test.sh` would have provided the missing piece — an error that
    /// fails the test. Every skip in the suite goes through here.
    ///
    ///     guard let cluster = try RestartablePostgresCluster.make() else {
    ///         throw TestEnvironment.unavailable("no PostgreSQL server binaries", providedByTestCommand: true)
    ///     }
    public static func unavailable(
        _ reason: String, providedByTestCommand: Bool, file: StaticString = #filePath, line: UInt = #line
    ) -> any Error {
        if providedByTestCommand && isStrict {
            return MissingInStrictMode(
                description: "\(reason): scripts/test.sh provides this, so under \(strictVariable)=1 (or CI) the "
                    + "test fails instead of skipping")
        }
        return XCTSkip(reason, file: file, line: line)
    }
}

/// A piece the test command provides was missing in strict mode (see ``TestEnvironment``).
public struct MissingInStrictMode: Error, CustomStringConvertible {
    public let description: String
}
