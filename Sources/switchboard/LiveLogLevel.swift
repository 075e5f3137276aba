import Logging
import Synchronization

/// The log level every logger of the process shares, so SIGHUP can change it for all of them at once
/// (a `Logger` is a value: each copy would otherwise keep the level it was made with).
///
/// Thread-safe: an atomic, read on every log call's level check.
final class LiveLogLevel: Sendable {
    private let raw: Atomic<UInt8>

    init(_ level: Logger.Level) {
        raw = Atomic(LiveLogLevel.code(level))
    }

    var level: Logger.Level {
        get { Logger.Level.allCases[Int(raw.load(ordering: .relaxed))] }
        set { raw.store(LiveLogLevel.code(newValue), ordering: .relaxed) }
    }

    private static func code(_ level: Logger.Level) -> UInt8 {
        UInt8(Logger.Level.allCases.firstIndex(of: level)!)
    }
}
