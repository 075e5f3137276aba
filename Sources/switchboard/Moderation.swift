import ArgumentParser
import Foundation
import SwitchboardDatabase
import SwitchboardModeration

/// `switchboard moderation`: the moderation log (every operator action: when, who, what, target, reason),
/// newest first, as a table or JSON lines. Writes nothing.
struct Moderation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the moderation log (operator actions), newest first.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, parsing: .unconditional, help: "How many entries to show (1 or more).")
    var limit = 50

    @Flag(name: .long, help: "One JSON object per line (id, at, actor, action, target, reason) instead of a table.")
    var json = false

    @Option(name: .long, parsing: .unconditional, help: "Seconds to keep retrying an unreachable database.")
    var dbConnectTimeout: Double = 5

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be 1 or more") }
        guard dbConnectTimeout >= 0 else { throw ValidationError("--db-connect-timeout must be 0 or more") }
        _ = try common.databaseURL()
    }

    func run() async throws {
        let (logger, _) = common.makeLogger()
        let url = try common.databaseURL()
        if case .sqlite(let path) = url, !FileManager.default.fileExists(atPath: path) {
            throw CommandFailure.report(DatabaseError(.connectFailed, message: "no database at \(path) (has the server run here?)"))
        }
        let repository = ModerationRepository(dialect: url.dialect)
        let limit = self.limit
        let entries: [ModerationLogEntry]
        do {
            entries = try await ModerationDatabase.run(
                url, migrating: false, connectTimeout: dbConnectTimeout, logger: logger
            ) { connection throws(DatabaseError) in
                try repository.logEntries(limit: limit, on: connection)
            }
        } catch let error as DatabaseError {
            throw CommandFailure.report(error)
        }
        var output = ""
        if json {
            for entry in entries { output += try entry.jsonLine() + "\n" }
        } else if entries.isEmpty {
            output = "no moderation actions recorded\n"
        } else {
            for entry in entries {
                var line = "\(entry.at.displayString) UTC  \(entry.actor)  \(entry.action)"
                if !entry.target.isEmpty { line += "  \(entry.target)" }
                if !entry.reason.isEmpty { line += "  (\(entry.reason))" }
                output += line + "\n"
            }
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}
