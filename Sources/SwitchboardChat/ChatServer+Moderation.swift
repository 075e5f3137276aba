import NIOCore

/// Moderation at start: the bans, mutes and MOTD read before the first accept, and the admin console's
/// listeners, whose every peer is an operator acting as `admin` from its welcome on.
extension ChatServer {
    /// Reads bans, mutes and the MOTD before the first accept (then the hub polls for changes); bounded like
    /// the first visitor-number block, so a database that does not answer now does not hold up the start.
    func startModeration(hub: NIOLoopBound<ChatHub>) async {
        let loop = self.loop
        let pool = self.pool
        try? await loop.flatSubmit {
            hub.value.startModeration(store: PoolModerationStore(pool: pool, eventLoop: loop))
        }.withDeadline(NIODeadline.now() + configuration.chat.visitorNumberWait, on: loop).get()
    }

    /// Binds each `--admin` endpoint (only `unix:`; the options refuse others) for `hub`'s sessions, after the
    /// chat's own listeners. Called from ``start()`` on the starting task.
    func listenAdminConsoles(hub: NIOLoopBound<ChatHub>) async throws {
        for endpoint in configuration.adminEndpoints {
            // Every peer is an operator: the socket file is the only gate, so it is 0600 unless told otherwise.
            var endpoint = endpoint
            if case .unix(let path, nil, let backlog) = endpoint { endpoint = .unix(path: path, mode: 0o600, backlog: backlog) }
            let channel: any Channel
            do {
                channel = try await bind(endpoint, hub: hub, adminConsole: true)
            } catch {
                throw ListenError(endpoint: endpoint, underlying: error)
            }
            state.withLockedValue { $0.listeners.append(channel) }
            logger.notice("admin console listening", metadata: ["endpoint": "\(endpoint)"])
        }
    }
}
