import ArgumentParser

/// `switchboard`: a telnet chat server that records every connection. Subcommands parse options, build the
/// parts from the library modules, and run them; no logic of their own.
@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A telnet chat server that counts its clients and records every connection.",
        subcommands: Switchboard.subcommands,
        defaultSubcommand: Serve.self
    )

    #if DEBUG
    /// Debug builds also carry the hidden event-loop guard self-test (the guard compiles away in release).
    static let subcommands: [any ParsableCommand.Type] = [Serve.self, Migrate.self, History.self, Operator.self, Moderation.self, ConfigCommand.self, LoopGuardSelfTest.self]
    #else
    static let subcommands: [any ParsableCommand.Type] = [Serve.self, Migrate.self, History.self, Operator.self, Moderation.self, ConfigCommand.self]
    #endif
}
