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

    // `.unconditional` so `--limit -1` is refused with its range below, not as "Missing value".
    @Option(name: .long, parsing: .unconditional, help: "How many connections to show (1 or more).")
    var limit = 50

    @Flag(name: .long, help: "One JSON object per line instead of a table.")
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
        let records: [ConnectionRecord]
        do {
            records = try await HistoryRepository.readConnections(
                url: url, limit: limit, connectTimeout: .seconds(dbConnectTimeout), logger: logger)
        } catch let error as DatabaseError where error.kind == .migrationMismatch {
            // Already one sentence that says what to do.
            FileHandle.standardError.write(Data("switchboard: \(error.message)\n".utf8))
            throw ExitCode(1)
        } catch let error as DatabaseError {
            throw CommandFailure.report(error)
        }
        var output = ""
        if json {
            for record in records { output += try HistoryFormatter.jsonLine(record) + "\n" }
        } else {
            output = HistoryFormatter.table(records)
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}
