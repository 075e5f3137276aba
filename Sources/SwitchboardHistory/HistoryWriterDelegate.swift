import SwitchboardDatabase

/// Who hears from a ``HistoryWriter`` what it cannot do by itself. Called on the writer's event loop.
public protocol HistoryWriterDelegate: AnyObject {
    /// `true`: history fell behind a database that is up — stop reading from the clients who say lines, so
    /// TCP pushes back on them; `false`: it caught up, or the database is down (holding back would not help).
    func historyWriter(isBehind: Bool)
    /// These connections said lines that will not be stored (the queue and the spool were full): tell them.
    func historyWriter(couldNotStoreLinesOf keys: Set<ConnectionKey>)
}
