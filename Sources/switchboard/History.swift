import ArgumentParser
import Foundation
import SwitchboardStorage

/// `switchboard history`: the connection history, newest first, as a table or JSON lines.
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the connection history, newest first.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "How many connections to show.")
    var limit = 50

    @Flag(name: .long, help: "One JSON object per line instead of a table.")
    var json = false

    @Option(name: .long, help: "Seconds to keep retrying an unreachable database.")
    var dbConnectTimeout: Double = 5

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() async throws {
        let logger = common.makeLogger()
        let url = try common.databaseURL()
        if case .sqlite(let path) = url, !FileManager.default.fileExists(atPath: path) {
            throw CommandFailure.report(DatabaseError(.connectFailed, message: "no database at \(path) (has the server run here?)"))
        }
        let pool = DatabasePool(url: url, numberOfThreads: 1, logger: logger)
        pool.start()
        let records: [ConnectionRecord]
        do {
            try await pool.waitUntilReachable(timeout: .seconds(dbConnectTimeout))
            _ = try await HistoryStore.migrate(pool: pool)
            records = try await HistoryStore.connections(pool: pool, limit: limit)
            try? await pool.shutdown()
        } catch let error as DatabaseError {
            try? await pool.shutdown()
            throw CommandFailure.report(error)
        }
        var output = ""
        if json {
            for record in records { output += HistoryFormatter.jsonLine(record) + "\n" }
        } else {
            output = HistoryFormatter.table(records)
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}
