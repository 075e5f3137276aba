import ArgumentParser
import Foundation

/// `switchboard config --show`: the settings `serve` would run with, from the same flags, environment and
/// file, one `key: value` line each (YAML: the output can be saved as a configuration file), each with where
/// its value came from. The database password is shown as `***`.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the settings serve would use: flags > SWITCHBOARD_* environment > --config file > defaults.")

    @Flag(name: .long, help: "Print every setting, its value and where the value came from.")
    var show = false

    @OptionGroup var common: CommonOptions
    @OptionGroup var options: ServeOptions

    func validate() throws {
        guard show else { throw ValidationError("say what to do: switchboard config --show") }
    }

    func run() async throws {
        let loader = ConfigurationLoader(
            flags: options.flagValues(common: common), environment: ProcessInfo.processInfo.environment,
            file: options.config)
        let loaded = try loader.loadOrExit()
        print(ConfigCommand.render(loaded, file: loader.file), terminator: "")
    }

    /// The settings as YAML, with their sources as comments; unset ones commented out.
    static func render(_ loaded: ConfigurationLoader.Loaded, file: String?) -> String {
        var text = "# switchboard serve: flags > SWITCHBOARD_* environment > \(file ?? "no configuration file") > defaults\n"
        // Comments line up, except after the odd long value (a list of endpoints).
        let width = Setting.all.map { $0.key.count + 2 + ($0.show(loaded.settings)?.count ?? 0) }.filter { $0 <= 40 }.max() ?? 0
        for setting in Setting.all {
            let source = loaded.sources[setting.key] ?? .default
            let restart = setting.changesLive ? "" : ", restart to change"
            if let value = setting.show(loaded.settings) {
                let line = "\(setting.key): \(value)"
                text += line.padding(toLength: max(width, line.count), withPad: " ", startingAt: 0)
                    + "  # \(source)\(restart)\n"
            } else {
                text += "# \(setting.key): (not set)  # \(source)\(restart)\n"
            }
        }
        return text
    }
}
