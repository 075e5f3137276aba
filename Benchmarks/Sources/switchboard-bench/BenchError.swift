/// Why a benchmark run could not produce a complete result. Each case reads as one clear line.
enum BenchError: Error, CustomStringConvertible {
    /// The overall `--timeout` ran out during `phase`.
    case timedOut(phase: String)
    /// The server closed a connection before sending its first line.
    case closedBeforeWelcome
    /// The run ended without everything it expected, for the reason given.
    case incomplete(String)
    /// A flag combination that cannot produce a meaningful run.
    case invalidOptions(String)

    var description: String {
        switch self {
        case .timedOut(let phase): "timed out while \(phase)"
        case .closedBeforeWelcome: "the server closed the connection before sending a first line"
        case .incomplete(let reason): "incomplete: \(reason)"
        case .invalidOptions(let text): "invalid options: \(text)"
        }
    }
}
