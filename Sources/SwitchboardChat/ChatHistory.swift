import NIOCore
import SwitchboardDatabase
import SwitchboardHistory

/// What the hub needs from history. ``HistoryWriter`` is the real one; unit tests use an in-memory one.
///
/// Every method is called on the hub's event loop, and every future completes there.
public protocol ChatHistory: AnyObject {
    /// Told when history falls behind and catches up, and which clients' lines were not stored (the hub).
    var delegate: (any HistoryWriterDelegate)? { get set }
    /// Reserves `count` visitor numbers (row ids), higher than any reserved before.
    func reserveVisitorNumbers(count: Int) -> EventLoopFuture<Range<Int64>>
    /// Gives back numbers reserved and not used (at shutdown), if nobody reserved after them.
    func returnVisitorNumbers(_ unused: Range<Int64>) -> EventLoopFuture<Void>
    /// Records an accepted connection under a reserved `visitor` number, or `nil` to have one reserved as
    /// it is written; the future gives its visitor number (row id) once written.
    func connectionOpened(
        _ key: ConnectionKey, visitor: Int64?, peer: String, nickname: String?, at time: Timestamp
    ) -> EventLoopFuture<Int64>
    /// Records a refused connection (it uses up a visitor number too).
    func connectionRefused(visitor: Int64?, peer: String, reason: String, at time: Timestamp)
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
