import Logging
import SwitchboardChat

/// What SIGHUP does to the settings: reads the configuration again (the file; the flags and environment are
/// the process's), applies what can change live to the running server and logs each change, and logs every
/// other change as needing a restart, leaving it alone. A file that no longer reads or validates changes
/// nothing: the error is logged and the settings in use stay.
///
/// An actor: reloads run one at a time, whatever the signals do.
actor SettingsReloader {
    private let loader: ConfigurationLoader
    private let server: ChatServer
    private var logger: Logger
    /// The settings in force: what started, plus the live changes applied since.
    private var current: ConfigurationLoader.Loaded

    init(loader: ConfigurationLoader, loaded: ConfigurationLoader.Loaded, server: ChatServer, logger: Logger) {
        self.loader = loader
        self.current = loaded
        self.server = server
        self.logger = logger
    }

    /// Reloads; returns the keys applied (for tests and the systemd status).
    @discardableResult
    func reload() async -> [String] {
        let next: ConfigurationLoader.Loaded
        do {
            next = try loader.load()
        } catch {
            logger.error("configuration not reloaded; the settings in use stay", metadata: ["error": "\(error)"])
            return []
        }
        var applied = current.settings
        var changed: [Setting] = []
        for setting in Setting.all where !setting.isSame(current.settings, next.settings) {
            if setting.changesLive {
                setting.copy(next.settings, &applied)
                changed.append(setting)
            } else {
                logger.warning(
                    "configuration change needs a restart; not applied",
                    metadata: [
                        "key": "\(setting.key)", "running": "\(setting.show(current.settings) ?? "unset")",
                        "configured": "\(setting.show(next.settings) ?? "unset")",
                        "source": "\(next.sources[setting.key] ?? .default)",
                    ])
            }
        }
        guard !changed.isEmpty else {
            logger.info("configuration reloaded; nothing to change live")
            return []
        }
        do {
            try applied.validate()
        } catch {
            logger.error("configuration not reloaded; the settings in use stay", metadata: ["error": "\(error)"])
            return []
        }
        await server.reconfigure(applied.server)
        logger.logLevel = applied.logLevel  // shared by every logger of the process (LiveLogLevel)
        for setting in changed {
            logger.notice(
                "configuration changed",
                metadata: [
                    "key": "\(setting.key)", "from": "\(setting.show(current.settings) ?? "unset")",
                    "to": "\(setting.show(applied) ?? "unset")", "source": "\(next.sources[setting.key] ?? .default)",
                ])
            current.sources[setting.key] = next.sources[setting.key]
        }
        current.settings = applied
        return changed.map(\.key)
    }
}
