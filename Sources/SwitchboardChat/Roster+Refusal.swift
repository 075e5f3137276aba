/// How a refusal is told and recorded.
extension Roster.Refusal {
    /// What the refused client is told.
    var line: String {
        switch self {
        case .serverFull: return ChatText.serverFull
        case .tooManyFromAddress: return ChatText.tooManyFromAddress
        case .banned(let detail): return ChatText.youAreBanned(detail)
        }
    }
    /// The history row's `close_reason`.
    var recordedReason: String {
        switch self {
        case .serverFull: return "refused: server full"
        case .tooManyFromAddress: return "refused: too many connections from your address"
        case .banned: return "refused: banned"
        }
    }
}
