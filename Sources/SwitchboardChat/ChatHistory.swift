import NIOCore
import SwitchboardStorage

/// What the hub needs from history. ``HistoryWriter`` is the real one; unit tests use an in-memory one.
///
/// Every method is called on the hub's event loop, and every future completes there.
public protocol ChatHistory: AnyObject {
    /// Records an accepted connection; the future gives its visitor number (row id).
    func connectionOpened(_ key: ConnectionKey, peer: String, nickname: String?, at time: Timestamp) -> EventLoopFuture<Int64>
    /// Records a refused connection.
    func connectionRefused(peer: String, reason: String, at time: Timestamp)
    /// Closes an accepted connection's record.
    func connectionClosed(_ key: ConnectionKey, _ summary: ConnectionSummary)
    /// Records a public line.
    func messageSaid(_ key: ConnectionKey, nickname: String, kind: MessageKind, body: String, at time: Timestamp)
    /// The last `limit` public lines, oldest first.
    func recentMessages(limit: Int) -> EventLoopFuture<[StoredMessage]>
    /// When `nickname` (any case) was last seen, with its stored spelling, if ever.
    func lastSeen(nickname: String) -> EventLoopFuture<SeenRecord?>
    /// Completes when everything recorded so far is written (used at shutdown).
    func flushed() -> EventLoopFuture<Void>
}

extension HistoryWriter: ChatHistory {}
