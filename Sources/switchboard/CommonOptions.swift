import ArgumentParser
import Foundation
import Logging
import SwitchboardDatabase

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

    @Option(name: .long, help: "text (swift-log's lines) or json (one object per line, for log shippers). (default: text)")
    var logFormat: LogFormat?

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

    /// A logger writing to stderr (stdout is for command output) at `level` in `format` (`serve`: the
    /// configured ones), else `--log-level` and `--log-format`, else info and text. Every logger of the
    /// process shares one level: setting `logLevel` on any copy (SIGHUP's `log-level`) changes it for all.
    /// `serve` writes from a thread of its own (an event loop never waits for the log); flush the writer
    /// before the process exits.
    func makeLogger(
        level: Logger.Level? = nil, format: LogFormat? = nil, synchronous: Bool = true
    ) -> (Logger, LogLineWriter) {
        let shared = LiveLogLevel(level ?? logLevel ?? .info)
        let writer = LogLineWriter(synchronous: synchronous)
        switch format ?? logFormat ?? .text {
        case .text:
            LoggingSystem.bootstrap { TextLogHandler(label: $0, writer: writer, level: shared) }
        case .json:
            LoggingSystem.bootstrap { JSONLogHandler(label: $0, writer: writer, level: shared) }
        }
        return (Logger(label: "switchboard"), writer)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
