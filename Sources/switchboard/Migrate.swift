import ArgumentParser
import SwitchboardDatabase
import SwitchboardHistory

/// `switchboard migrate`: apply pending migrations and say what was done.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, parsing: .unconditional, help: "Seconds to keep retrying an unreachable database.")
    var dbConnectTimeout: Double = 30

    func validate() throws {
        guard dbConnectTimeout >= 0 else { throw ValidationError("--db-connect-timeout must be 0 or more") }
        _ = try common.databaseURL()
    }

    func run() async throws {
        let (logger, _) = common.makeLogger()
        let url = try common.databaseURL()
        let pool = DatabasePool(url: url, numberOfThreads: 1, logger: logger)
        pool.start()
        do {
            try await pool.waitUntilReachable(timeout: .seconds(dbConnectTimeout))
            let repository = HistoryRepository(dialect: url.dialect)
            let outcome = try await pool.withConnection { connection throws(DatabaseError) in
                try repository.migrate(on: connection)
            }
            if outcome.applied.isEmpty {
                let count = outcome.alreadyApplied
                print("\(url.redacted): up to date (\(count) migration\(count == 1 ? "" : "s") applied earlier)")
            } else {
                for migration in outcome.applied {
                    print("\(url.redacted): applied \(migration.version) \(migration.name)")
                }
            }
            try? await pool.shutdown()
        } catch let error as DatabaseError {
            try? await pool.shutdown()
            throw CommandFailure.report(error)
        }
    }
}
