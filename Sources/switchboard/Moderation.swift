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

    @OptionGroup var listing: ListingOptions

    func validate() throws {
        _ = try common.databaseURL()
    }

    func run() async throws {
        let (logger, _) = common.makeLogger()
        let url = try listing.existingDatabase(common)
        let repository = ModerationRepository(dialect: url.dialect)
        let limit = listing.limit
        let entries: [ModerationLogEntry]
        do {
            entries = try await ModerationDatabase.run(
                url, migrating: false, connectTimeout: listing.dbConnectTimeout, logger: logger
            ) { connection throws(DatabaseError) in
                try repository.logEntries(limit: limit, on: connection)
            }
        } catch let error as DatabaseError {
            throw CommandFailure.report(error)
        }
        var output = ""
        if listing.json {
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
