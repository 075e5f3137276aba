import Foundation

/// Places in the repository the tests read from.
public enum TestPaths {
    /// The package root: this file is `Tests/SwitchboardTestSupport/TestPaths.swift`.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `scripts/NAME` in the repository.
    public static func script(_ name: String) -> URL {
        repositoryRoot.appendingPathComponent("scripts").appendingPathComponent(name)
    }
}
