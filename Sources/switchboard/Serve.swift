import ArgumentParser
import Logging
import NIOCore
import ServiceLifecycle
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardDatabase

/// `switchboard serve`: run the chat server until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the chat server (the default).")

    @OptionGroup var common: CommonOptions
    @OptionGroup var web: WebOptions  // issue 25: --web, --web-origin, --metrics

    @Option(name: .long, help: ArgumentHelp(
        "Where to listen; repeatable. tcp:PORT[:interface=ADDR], unix:PATH[:mode=OCTAL]. Default: tcp:8000.",
        valueName: "endpoint"))
    var listen: [String] = []

    @Option(name: .long, parsing: .unconditional, help: "Longest accepted input line, in bytes (terminator not counted).")
    var maxLine = Serve.defaults.chat.maximumLineLength

    @Option(name: .long, parsing: .unconditional, help: "Most clients at once; more get '! server full'.")
    var maxClients = Serve.defaults.chat.maximumClients

    @Option(name: .long, parsing: .unconditional, help: "Most clients per IP address; 0 = unlimited.")
    var maxPerIp = Serve.defaults.chat.maximumClientsPerAddress

    @Option(name: .long, parsing: .unconditional, help: "Bytes queued for a client that does not read before it is disconnected.")
    var maxSendq = Serve.defaults.chat.maximumSendQueueBytes

    @Option(name: .long, parsing: .unconditional, help: "Lines per second a client may send on average; 0 = no flood control.")
    var floodRate = Serve.defaults.chat.floodRate

    @Option(name: .long, parsing: .unconditional, help: "Lines a client may send in one burst.")
    var floodBurst = Serve.defaults.chat.floodBurst

    @Option(name: .long, parsing: .unconditional, help: "Seconds of silence before a client is disconnected; 0 = never.")
    var idleTimeout = Serve.defaults.chat.idleTimeout.seconds

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Join/leave notices a second named one by one; above it, one '* J joined, L left' line a second. 0 = always name.",
        valueName: "notices"))
    var noticeRate = Serve.defaults.chat.noticeRate

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Visitor numbers reserved from the database at a time, so a welcome needs no round trip; 0 = each welcome waits for its row.",
        valueName: "numbers"))
    var visitorNumberBlock = Serve.defaults.chat.visitorNumberBlock

    @Option(name: .long, parsing: .unconditional, help: "Database worker threads (one connection each).")
    var dbThreads = Serve.defaults.databaseThreads

    @Option(name: .long, parsing: .unconditional, help: "Seconds to keep retrying an unreachable database at start-up.")
    var dbConnectTimeout = Serve.defaults.databaseConnectTimeout.seconds

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Seconds after its last heartbeat that another server on the database counts as dead (its open rows are closed at start; on SQLite, a live one refuses the start).",
        valueName: "seconds"))
    var serverTimeout = Serve.defaults.serverTimeout.seconds

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "History events kept in memory while the database is slow or down; past half of it, clients who say lines are held back (the database is up) or, when it is full, events go to the spool (it is down).",
        valueName: "events"))
    var historyQueue = Serve.defaults.historyQueueLimit

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Bytes of history events kept in memory (the queue's other bound).", valueName: "bytes"))
    var historyQueueBytes = Serve.defaults.historyQueueBytes

    @Option(name: .long, help: ArgumentHelp(
        "Directory for the history spool (events that do not fit in memory during an outage, and what a stop could not write; replayed at the next start). Default: the SQLite file's directory, else the working directory.",
        valueName: "path"))
    var spoolDir: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Most bytes the history spool may hold; past it events are dropped (counted, clients told). 0 = no spool.",
        valueName: "bytes"))
    var spoolMax = Serve.defaults.spoolMaximumBytes

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Several servers on one PostgreSQL database: messages from the other servers held while this one is busy; past it they are dropped (clients are told) and the rosters re-synced.",
        valueName: "messages"))
    var clusterInbox = Serve.defaults.clusterInboxLimit

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Several servers on one PostgreSQL database: bytes of the other servers' messages held while this one is busy; past it, as --cluster-inbox.",
        valueName: "bytes"))
    var clusterInboxBytes = Serve.defaults.clusterInboxBytes

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Several servers on one PostgreSQL database: bytes a second this server sends the others, at most; clients producing more are not read until it catches up.",
        valueName: "bytes"))
    var clusterSendRate = Serve.defaults.clusterSendRate

    @Option(name: .long, parsing: .unconditional, help: "Seconds a graceful stop may take.")
    var shutdownTimeout = Serve.defaults.shutdownTimeout.seconds

    // Numeric options parse the next word unconditionally, so `--flood-rate -1` reaches validate() and is
    // refused with its range instead of ArgumentParser's "Missing value" (it takes `-1` for a flag).
    // Errors thrown here are shown with `serve`'s usage; errors thrown from run() get the top-level one.
    func validate() throws {
        for text in listen {
            if let address = Serve.unbracketedIPv6Interface(text) {
                throw ValidationError(
                    "invalid endpoint '\(text)': put an IPv6 address in brackets: interface=[\(address)]")
            }
        }
        do {
            try makeConfiguration().validate()
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    /// The defaults every option starts from (one place: ``ServerConfiguration``).
    static let defaults = ServerConfiguration()

    /// The options as a configuration (not yet validated).
    func makeConfiguration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if !listen.isEmpty {
            configuration.endpoints = try listen.map { text in
                do { return try Endpoint(parsing: text) } catch { throw ValidationError("\(error)") }
            }
        }
        configuration.database = try common.databaseURL()
        configuration.databaseThreads = dbThreads
        configuration.databaseConnectTimeout = .seconds(dbConnectTimeout)
        configuration.historyQueueLimit = historyQueue
        configuration.historyQueueBytes = historyQueueBytes
        configuration.spoolDirectory = spoolDir
        configuration.spoolMaximumBytes = spoolMax
        configuration.clusterInboxLimit = clusterInbox
        configuration.clusterInboxBytes = clusterInboxBytes
        configuration.clusterSendRate = clusterSendRate
        configuration.serverTimeout = .seconds(serverTimeout)
        configuration.shutdownTimeout = .seconds(shutdownTimeout)
        configuration.chat.maximumLineLength = maxLine
        configuration.chat.maximumClients = maxClients
        configuration.chat.maximumClientsPerAddress = maxPerIp
        configuration.chat.maximumSendQueueBytes = maxSendq
        configuration.chat.floodRate = floodRate
        configuration.chat.floodBurst = floodBurst
        configuration.chat.idleTimeout = .seconds(idleTimeout)
        configuration.chat.noticeRate = noticeRate
        configuration.chat.visitorNumberBlock = visitorNumberBlock
        return configuration
    }

    /// The address in `interface=ADDR` when ADDR is an IPv6 address without brackets (`tcp:8000:interface=::1`),
    /// which the endpoint syntax would split at its colons into a confusing error. Options after the address
    /// (`:backlog=…`) and escaped colons (`\:`) are allowed.
    static func unbracketedIPv6Interface(_ text: String) -> String? {
        guard text.hasPrefix("tcp:"), let range = text.range(of: ":interface=") else { return nil }
        let value = text[range.upperBound...].replacingOccurrences(of: "\\:", with: "\u{0}")
        guard !value.hasPrefix("[") else { return nil }
        // The address runs up to the next option (`key=value`, or the `reuseport` flag).
        let address = value.split(separator: ":", omittingEmptySubsequences: false).prefix {
            !$0.contains("=") && $0 != "reuseport"
        }
        guard address.count > 1 else { return nil }
        return address.joined(separator: ":").replacingOccurrences(of: "\u{0}", with: "\\:")
    }

    func run() async throws {
        let logger = common.makeLogger()
        let configuration = try makeConfiguration()

        // Every client is a file descriptor: take the hard limit, and say so when it cannot hold --max-clients.
        if let limit = OpenFileLimit.raiseToHardLimit(), limit < UInt64(maxClients + OpenFileLimit.reserve) {
            logger.warning(
                "the open file limit is lower than --max-clients needs; accepts pause when it is reached",
                metadata: ["open-file-limit": "\(limit)", "needed": "\(maxClients + OpenFileLimit.reserve)"])
        }

        // The pool is a service before the server: shutdown runs in reverse order, so the pool stops only
        // after the server has written its last history.
        let pool = DatabasePool(
            url: configuration.database, numberOfThreads: configuration.databaseThreads, logger: logger)
        let server = ChatServer(configuration: configuration, pool: pool, logger: logger)
        try web.attach(to: server)  // issue 25
        var groupConfiguration = ServiceGroupConfiguration(
            services: [pool, server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A second budget on top of the server's own bounded steps, so a stop can never hang.
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(Int64(shutdownTimeout * 1000) + 5_000)
        // The server has logged the cause of a failed start, first, before tidying up; here it only
        // becomes the exit status.
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch is StartupInterrupted {
            throw ExitCode(Serve.interruptedExitCode)
        } catch is DatabaseError {
            throw ExitCode(1)
        } catch is ListenError {
            throw ExitCode(1)
        } catch is DatabaseInUse {
            throw ExitCode(1)
        } catch is SpoolDirectoryError {
            throw ExitCode(1)
        }
    }

    /// Exit status when SIGTERM or SIGINT arrives while start-up waits for the database (128 + SIGINT, as
    /// a shell reports Ctrl-C). A start that cannot succeed exits 1; a normal stop exits 0.
    static let interruptedExitCode: Int32 = 130
}

extension TimeAmount {
    /// Fractional seconds (CLI options), rounded to the millisecond.
    static func seconds(_ value: Double) -> TimeAmount { .milliseconds(Int64((value * 1000).rounded())) }

    /// This amount in fractional seconds (the CLI shows defaults in seconds).
    var seconds: Double { Double(nanoseconds) / 1e9 }
}
