import ArgumentParser
import Foundation
import SwitchboardDatabase
import SwitchboardModeration
import SwitchboardProtocol

/// `switchboard operator add|list|remove`: operator accounts, kept in the database with a scrypt hash of
/// the password. The password is read from the terminal (echo off) or stdin, never from a flag.
struct Operator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Add, list or remove chat operators (who may /oper).",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an operator; the password is read from the terminal (no echo) or the first line of stdin.")

        @OptionGroup var common: CommonOptions

        @Argument(help: "The operator's name (\(Nickname.rule)).")
        var name: String

        @Option(name: .long, parsing: .unconditional, help: "Seconds to keep retrying an unreachable database.")
        var dbConnectTimeout: Double = 30

        func validate() throws {
            if let problem = Nickname.problem(with: name) { throw ValidationError(problem) }
            guard dbConnectTimeout >= 0 else { throw ValidationError("--db-connect-timeout must be 0 or more") }
            _ = try common.databaseURL()
        }

        func run() async throws {
            let password: String
            let hash: String
            do {
                password = try PasswordReader.read(prompt: "password for operator \(name): ")
                hash = try PasswordHash.make(password)
            } catch {
                FileHandle.standardError.write(Data("switchboard: \(error)\n".utf8))
                throw ExitCode(1)
            }
            let (logger, _) = common.makeLogger()
            let url = try common.databaseURL()
            let name = self.name
            let repository = ModerationRepository(dialect: url.dialect)
            let added: Bool
            do {
                added = try await ModerationDatabase.run(
                    url, migrating: true, connectTimeout: dbConnectTimeout, logger: logger
                ) { connection throws(DatabaseError) in
                    try connection.transaction { connection throws(DatabaseError) in
                        let now = Timestamp.now()
                        guard try repository.addOperator(name: name, passwordHash: hash, at: now, on: connection) else {
                            return false
                        }
                        try repository.log(
                            ModerationLogEntry(at: now, actor: "cli", action: "operator add", target: name), on: connection)
                        return true
                    }
                }
            } catch let error as DatabaseError {
                throw CommandFailure.report(error)
            }
            guard added else {
                FileHandle.standardError.write(Data("switchboard: operator \(name) exists (remove it first to change its password)\n".utf8))
                throw ExitCode(1)
            }
            print("added operator \(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List operators (name and when added).")

        @OptionGroup var common: CommonOptions

        @Option(name: .long, parsing: .unconditional, help: "Seconds to keep retrying an unreachable database.")
        var dbConnectTimeout: Double = 5

        func run() async throws {
            let (logger, _) = common.makeLogger()
            let url = try common.databaseURL()
            let repository = ModerationRepository(dialect: url.dialect)
            let accounts: [OperatorAccount]
            do {
                accounts = try await ModerationDatabase.run(
                    url, migrating: false, connectTimeout: dbConnectTimeout, logger: logger
                ) { connection throws(DatabaseError) in
                    try repository.operators(on: connection)
                }
            } catch let error as DatabaseError {
                throw CommandFailure.report(error)
            }
            var output = ""
            for account in accounts { output += "\(account.name)  added \(account.createdAt.displayString) UTC\n" }
            if accounts.isEmpty { output = "no operators (add one with: switchboard operator add NAME)\n" }
            FileHandle.standardOutput.write(Data(output.utf8))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an operator.")

        @OptionGroup var common: CommonOptions

        @Argument(help: "The operator's name.")
        var name: String

        @Option(name: .long, parsing: .unconditional, help: "Seconds to keep retrying an unreachable database.")
        var dbConnectTimeout: Double = 30

        func run() async throws {
            let (logger, _) = common.makeLogger()
            let url = try common.databaseURL()
            let name = self.name
            let repository = ModerationRepository(dialect: url.dialect)
            let removed: Bool
            do {
                removed = try await ModerationDatabase.run(
                    url, migrating: true, connectTimeout: dbConnectTimeout, logger: logger
                ) { connection throws(DatabaseError) in
                    try connection.transaction { connection throws(DatabaseError) in
                        guard try repository.removeOperator(name: name, on: connection) else { return false }
                        try repository.log(
                            ModerationLogEntry(at: .now(), actor: "cli", action: "operator remove", target: name),
                            on: connection)
                        return true
                    }
                }
            } catch let error as DatabaseError {
                throw CommandFailure.report(error)
            }
            guard removed else {
                FileHandle.standardError.write(Data("switchboard: no operator named \(name)\n".utf8))
                throw ExitCode(1)
            }
            print("removed operator \(name)")
        }
    }
}
