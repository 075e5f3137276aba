import NIOCore

/// What serves beside the chat (the web page and dashboard, the metrics endpoint) and what it reads: attached
/// before ``ChatServer/start()``, started after the listeners, stopped right after them.
extension ChatServer {
    /// What this server counts, read now (for the metrics). `nil` before ``start()`` has made the hub.
    public func snapshot() async throws -> ChatServerSnapshot? {
        let (hub, store, link) = state.withLockedValue { ($0.hub, $0.store, $0.clusterLink) }
        guard let hub, let store else { return nil }
        let pool = self.pool
        return try await hub.eventLoop.submit {
            let cluster = hub.value.cluster
            let alive = cluster.map { $0.inContact ? $0.peerCount + 1 : 1 } ?? 1
            return ChatServerSnapshot(
                chat: hub.value.countersNow(), historyQueued: store.value.queuedEvents,
                historyWritten: store.value.writtenEvents, historyDropped: store.value.droppedEvents,
                pool: pool.statistics, cluster: link?.statistics, serversAlive: alive)
        }.get()
    }

    /// Calls `observer` on the hub's loop after each history batch with its duration, size and outcome (the metrics' batch latency). Call after ``start()``; one observer at a time.
    public func observeHistoryBatches(_ observer: @escaping @Sendable (TimeAmount, Int, Bool) -> Void) async throws {
        guard let store = state.withLockedValue({ $0.store }) else { return }
        try await store.eventLoop.submit { store.value.batchTimed = observer }.get()
    }

    /// Adds something that serves beside the chat's listeners (the web listener, the metrics endpoint); call
    /// before ``start()``. Started after the listeners, stopped right after them.
    public func attach(_ attachment: any ChatServerAttachment) {
        state.withLockedValue { $0.attachments.append(attachment) }
    }
}
