import NIOCore

extension ChatServer {
    /// Applies what can change while the server runs (SIGHUP): the chat's limits and rates (see
    /// ``ChatHub/reconfigure(_:)``) and `--trusted-proxy`. Everything else in `configuration` — listeners,
    /// the database, queue sizes, timeouts — is ignored here: it takes a restart, and the caller says so.
    /// The chat settings fixed at start (the visitor-number block, the send queue each connection was given)
    /// keep their running values. The caller validates `configuration` first.
    public func reconfigure(_ configuration: ServerConfiguration) async {
        state.withLockedValue { $0.trustedProxies = configuration.trustedProxies }
        guard let hub = state.withLockedValue({ $0.hub }) else { return }
        let next = configuration.chat
        try? await hub.eventLoop.submit {
            var applied = next
            applied.visitorNumberBlock = hub.value.configuration.visitorNumberBlock
            applied.maximumSendQueueBytes = hub.value.configuration.maximumSendQueueBytes
            hub.value.reconfigure(applied)
        }.get()
    }
}
