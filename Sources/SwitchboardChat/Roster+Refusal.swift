/// How a refusal is told and recorded.
extension Roster.Refusal {
    /// What the refused client is told.
    var line: String { self == .serverFull ? ChatText.serverFull : ChatText.tooManyFromAddress }
    /// The history row's `close_reason`.
    var recordedReason: String {
        self == .serverFull ? "refused: server full" : "refused: too many connections from your address"
    }
}
