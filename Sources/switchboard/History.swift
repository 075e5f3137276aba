import ArgumentParser
import Foundation
import SwitchboardDatabase
import SwitchboardHistory

/// `switchboard history`: the connection history, newest first, as a table or JSON lines.
///
/// Read-only: it opens SQLite `SQLITE_OPEN_READONLY` and runs no DDL on PostgreSQL, so an operator with
/// read access only can run it, and it migrates nothing (a database without the schema is refused).
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the connection history, newest first (read-only).")

    @OptionGroup var common: CommonOptions

    @OptionGroup var listing: ListingOptions

    func validate() throws {
        _ = try common.databaseURL()
    }

    func run() async throws {
        let (logger, _) = common.makeLogger()
        let url = try listing.existingDatabase(common)
        let records: [ConnectionRecord]
        do {
            records = try await HistoryRepository.readConnections(
                url: url, limit: listing.limit, connectTimeout: .seconds(listing.dbConnectTimeout), logger: logger)
        } catch let error as DatabaseError where error.kind == .migrationMismatch {
            // Already one sentence that says what to do.
            FileHandle.standardError.write(Data("switchboard: \(error.message)\n".utf8))
            throw ExitCode(1)
        } catch let error as DatabaseError {
            throw CommandFailure.report(error)
        }
        var output = ""
        if listing.json {
            for record in records { output += try HistoryFormatter.jsonLine(record) + "\n" }
        } else {
            output = HistoryFormatter.table(records)
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}
