import Logging
import SwitchboardDatabase

/// What a failed start means to the person running the server: the one line logged (first, before the
/// tidy-up) and the exit status. Shared by ``ChatServer/run()`` (the line) and the CLI (the status), so the two
/// cannot disagree about which errors are the server's own.
public struct StartupFailure: Sendable {
    /// The level of the line: `notice` for an interruption the operator asked for, else `error`.
    public let level: Logger.Level
    /// The line: the error's own words where it names what failed (`cannot listen on ENDPOINT: REASON`), else
    /// prefixed with `cannot start:`.
    public let message: String
    /// 130 (128 + SIGINT, as a shell reports Ctrl-C) for an interrupted start; 1 for a start that cannot succeed.
    public let exitStatus: Int32

    /// `nil` for an error that is not a start-up failure (it is reported as any other error).
    public init?(_ error: any Error) {
        switch error {
        case is StartupInterrupted:
            (level, message, exitStatus) = (.notice, "\(error)", 130)
        case is ListenError, is DatabaseInUse, is TLSLoadError:
            (level, message, exitStatus) = (.error, "\(error)", 1)
        case is DatabaseError, is SpoolDirectoryError:
            (level, message, exitStatus) = (.error, "cannot start: \(error)", 1)
        default:
            return nil
        }
    }

    /// The line for any error that ended a start: a known failure's, or `cannot start: ERROR`.
    static func line(for error: any Error) -> (level: Logger.Level, message: String) {
        guard let failure = StartupFailure(error) else { return (.error, "cannot start: \(error)") }
        return (failure.level, failure.message)
    }
}
