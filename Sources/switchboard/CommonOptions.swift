import ArgumentParser
import Foundation
import Logging
import SwitchboardStorage

/// `--database` and `--log-level`, shared by every subcommand.
struct CommonOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where history lives: sqlite:PATH or postgres://USER[:PASS]@HOST[:PORT]/DB. Default: $SWITCHBOARD_DATABASE, else $DATABASE_URL, else sqlite:switchboard.sqlite.",
            valueName: "url"))
    var database: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical. (default: info)")
    var logLevel: Logger.Level?

    /// The database URL from `--database`, then `SWITCHBOARD_DATABASE`, then `DATABASE_URL`, then the SQLite
    /// default (`migrate` and `history`; `serve` reads its configuration file too).
    func databaseURL() throws -> DatabaseURL {
        let environment = ProcessInfo.processInfo.environment
        let text = database ?? [environment["SWITCHBOARD_DATABASE"], environment["DATABASE_URL"]]
            .compactMap { $0 }.first { !$0.isEmpty }
        guard let text else { return .defaultURL }
        do {
            return try DatabaseURL(parsing: text)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// A logger writing to stderr (stdout is for command output) at `level` (`serve`: the configured one),
    /// else `--log-level`, else info. Every logger of the process shares one level: setting `logLevel` on
    /// any copy (SIGHUP's `log-level`) changes it for all.
    func makeLogger(level: Logger.Level? = nil) -> Logger {
        let shared = LiveLogLevel(level ?? logLevel ?? .info)
        LoggingSystem.bootstrap { label in
            var output = StreamLogHandler.standardError(label: label)
            output.logLevel = .trace
            return LiveLevelLogHandler(output: output, level: shared)
        }
        return Logger(label: "switchboard")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
