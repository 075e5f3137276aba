import SwitchboardHistory

/// The history writer's news for the hub: it fell behind or caught up (the producer gate follows), or it could
/// not store some clients' lines (they are told, once each).
extension ChatHub: HistoryWriterDelegate {
    public func historyWriter(isBehind: Bool) {
        setBehind(.history, isBehind)
    }

    public func historyWriter(couldNotStoreLinesOf keys: Set<ConnectionKey>) {
        for key in keys where !toldNotSaved.contains(key) {
            guard let session = sessions[key] else { continue }
            toldNotSaved.insert(key)
            session.send(ChatText.historyNotSaved)
        }
    }
}
