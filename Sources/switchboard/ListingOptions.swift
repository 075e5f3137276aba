import ArgumentParser
import Foundation
import SwitchboardDatabase

/// The options of a read-only listing (`history`, `moderation`): how many rows, a table or JSON lines, and how
/// long to retry an unreachable database.
struct ListingOptions: ParsableArguments {
    // `.unconditional` so `--limit -1` is refused with its range below, not as "Missing value".
    @Option(name: .long, parsing: .unconditional, help: "How many to show, newest first (1 or more).")
    var limit = 50

    @Flag(name: .long, help: "One JSON object per line instead of a table.")
    var json = false

    @Option(name: .long, parsing: .unconditional, help: "Seconds to keep retrying an unreachable database.")
    var dbConnectTimeout: Double = 5

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be 1 or more") }
        guard dbConnectTimeout >= 0 else { throw ValidationError("--db-connect-timeout must be 0 or more") }
    }

    /// `common`'s database, which a listing reads but never creates: a SQLite file that is not there is the
    /// error "no database at PATH", not an empty table in a new file.
    func existingDatabase(_ common: CommonOptions) throws -> DatabaseURL {
        let url = try common.databaseURL()
        if case .sqlite(let path) = url, !FileManager.default.fileExists(atPath: path) {
            throw CommandFailure.report(DatabaseError(.connectFailed, message: "no database at \(path) (has the server run here?)"))
        }
        return url
    }
}
