import Logging
import NIOCore
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardModeration
import SwitchboardProtocol

/// Moderation read from its store: the first snapshot before the first accept, then a poll of the database's
/// `moderation_version` every ``ChatConfiguration/moderationPollInterval``, and each new snapshot adopted
/// (bans applied to connected clients at once). On the hub's loop; the store's futures complete there.
extension ChatHub {
    /// Starts enforcing what `store` holds. The future completes once the first snapshot is read (the server
    /// listens after that, so bans hold from the first accept); if it cannot be read the server starts with
    /// none and the poll keeps trying.
    func startModeration(store: any ChatModerationStore) -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        moderationStore = store
        return store.snapshot().assumeIsolated().map { snapshot in
            self.adopt(snapshot)
        }.flatMapErrorThrowing { error in
            self.logger.warning("cannot read bans and mutes yet; retrying", metadata: ["error": "\(error)"])
        }.always { _ in
            self.scheduleModerationPoll()
        }.nonisolated()
    }

    private func scheduleModerationPoll() {
        guard !isShuttingDown, moderationStore != nil else { return }
        moderation.pollTimer = eventLoop.assumeIsolated().scheduleTask(in: configuration.moderationPollInterval) {
            self.pollModeration()
        }
    }

    /// Reads the version; when it moved, reads the snapshot and adopts it.
    private func pollModeration() {
        guard let store = moderationStore, !moderation.polling else { return scheduleModerationPoll() }
        moderation.polling = true
        let known = moderation.snapshot.version
        store.version().assumeIsolated().flatMap { version -> EventLoopFuture<Void> in
            guard version != known else { return self.eventLoop.makeSucceededVoidFuture() }
            return store.snapshot().assumeIsolated().map { self.adopt($0) }.nonisolated()
        }.whenComplete { result in
            self.moderation.polling = false
            if case .failure(let error) = result {
                self.logger.debug("moderation poll failed", metadata: ["error": "\(error)"])
            }
            self.scheduleModerationPoll()
        }
    }

    /// Takes `snapshot` as what is enforced, and applies its bans to the clients connected now.
    func adopt(_ snapshot: ModerationSnapshot) {
        if snapshot.skippedRows > 0, snapshot.skippedRows != moderation.reportedSkippedRows {
            logger.warning(
                "ban rows not written by switchboard were skipped (a kind it does not know, a malformed block or nickname)",
                metadata: ["rows": "\(snapshot.skippedRows)"])
        }
        moderation.reportedSkippedRows = snapshot.skippedRows
        let registeredBefore = moderation.snapshot.registeredNicknames
        moderation.snapshot = snapshot
        enforceBans()
        guard registeredBefore != snapshot.registeredNicknames else { return }
        // A name registered elsewhere (another server, or SQL) while a client here holds it: the grace starts
        // now. A registration dropped elsewhere: nobody is identified for it any more, and no grace runs.
        for key in snapshot.registeredNicknames.subtracting(registeredBefore) {
            if let holder = roster.member(named: key), let name = holder.nickname { tookNickname(holder.id, name) }
        }
        for key in registeredBefore.subtracting(snapshot.registeredNicknames) {
            for (holder, identifiedKey) in moderation.identified where identifiedKey == key {
                moderation.identified[holder] = nil
            }
            if let holder = roster.member(named: key) { moderation.graceTimers.removeValue(forKey: holder.id)?.cancel() }
        }
    }
}
