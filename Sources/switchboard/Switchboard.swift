import ArgumentParser

/// `switchboard`: a telnet chat server that records every connection. Subcommands parse options, build the
/// parts from the library modules, and run them; no logic of their own.
@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A telnet chat server that counts its clients and records every connection.",
        subcommands: [Serve.self, Migrate.self, History.self, LoopGuardSelfTest.self],
        defaultSubcommand: Serve.self
    )
}
