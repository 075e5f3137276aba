import ArgumentParser

/// How log lines are written (`--log-format`).
enum LogFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// swift-log's stream format: `2026-12-07T03:11:16+0000 info switchboard: peer=… [SwitchboardChat] message`.
    case text
    /// One JSON object per line, for log shippers (``JSONLogHandler``).
    case json
}
