import ArgumentParser
import Foundation
import Logging
import SwitchboardDatabase

/// `--database` and `--log-level`, shared by every subcommand.
struct CommonOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where history lives: sqlite:PATH or postgres://USER[:PASS]@HOST[:PORT]/DB. Default: $DATABASE_URL, else sqlite:switchboard.sqlite.",
            valueName: "url"))
    var database: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    /// The database URL from `--database`, then `DATABASE_URL`, then the SQLite default.
    func databaseURL() throws -> DatabaseURL {
        let text = database ?? ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        guard let text else { return .defaultURL }
        do {
            return try DatabaseURL(parsing: text)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// A logger writing to stderr (stdout is for command output) at `--log-level`.
    func makeLogger() -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
        var logger = Logger(label: "switchboard")
        logger.logLevel = logLevel
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
