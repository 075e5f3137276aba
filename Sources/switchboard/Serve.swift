import ArgumentParser
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import SwitchboardChat
import SwitchboardProtocol
import SwitchboardDatabase

/// `switchboard serve`: run the chat server until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the chat server (the default).")

    @OptionGroup var common: CommonOptions

    @OptionGroup var options: ServeOptions

    // Numeric options parse the next word unconditionally, so `--flood-rate -1` reaches validate() and is
    // refused with its range instead of ArgumentParser's "Missing value" (it takes `-1` for a flag).
    // Errors thrown here are shown with `serve`'s usage; errors thrown from run() get the top-level one.
    /// Checks the flags alone, over the defaults (shown with `serve`'s usage); the environment and the
    /// configuration file are read and checked when it runs.
    func validate() throws {
        var settings = ServeSettings()
        for (key, content) in options.flagValues(common: common) {
            guard let setting = Setting.named(key) else { continue }
            do { try setting.read(content, &settings) } catch { throw ValidationError("\(error)") }
        }
        do {
            try settings.validate()
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The defaults every option starts from (one place: ``ServerConfiguration``).
    static let defaults = ServerConfiguration()

    /// Reads the settings: the flags given, `SWITCHBOARD_*` variables, `--config`, the defaults.
    var loader: ConfigurationLoader {
        ConfigurationLoader(
            flags: options.flagValues(common: common), environment: ProcessInfo.processInfo.environment,
            file: options.config)
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
        let loader = self.loader
        let loaded = try loader.loadOrExit()
        let (logger, logWriter) = common.makeLogger(
            level: loaded.settings.logLevel, format: loaded.settings.logFormat, synchronous: false)
        defer { logWriter.flush() }  // the last lines (why a start failed, "stopped") before the process exits
        let configuration = loaded.settings.server
        let maxClients = configuration.chat.maximumClients

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
        loaded.settings.attachWeb(to: server)
        let settings = SettingsReloader(loader: loader, loaded: loaded, server: server, logger: logger)
        // Under systemd (Type=notify): READY=1, RELOADING=1, STATUS=, STOPPING=1.
        let systemd = SystemdNotifier(environment: ProcessInfo.processInfo.environment).map {
            SystemdService(notifier: $0, server: server)
        }
        // SIGHUP is trapped before anything listens: its default action would end the process.
        let reload = ReloadService(signals: await UnixSignalsSequence(trapping: .sighup)) {
            logger.notice("SIGHUP: reloading the configuration and the certificates")
            systemd?.reloading()
            await server.reloadCertificates(force: true)
            await settings.reload()
            await systemd?.reloaded()
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: pool), .init(service: server), .init(service: reload),
        ]
        if let systemd {
            // Last, so graceful shutdown reaches it first (STOPPING=1 at once); it returns early only when the
            // server never listened, which the server's own failure reports.
            services.append(.init(service: systemd, successTerminationBehavior: .ignore))
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A second budget on top of the server's own bounded steps, so a stop can never hang.
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(configuration.shutdownTimeout.nanoseconds / 1_000_000 + 5_000)
        // The server has logged the cause of a failed start, first, before tidying up; here it only
        // becomes the exit status.
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            guard let failure = StartupFailure(error) else { throw error }
            throw ExitCode(failure.exitStatus)
        }
    }
}

extension TimeAmount {
    /// Fractional seconds (CLI options), rounded to the millisecond.
    static func seconds(_ value: Double) -> TimeAmount { .milliseconds(Int64((value * 1000).rounded())) }

    /// This amount in fractional seconds (the CLI shows defaults in seconds).
    var seconds: Double { Double(nanoseconds) / 1e9 }
}
