import NIOCore
import SwitchboardChat
import SwitchboardDatabase
import SwitchboardHistory

/// History for protocol unit tests: in memory, on the test's embedded loop. Not a stand-in for the
/// database in integration tests (those use real SQLite and PostgreSQL); it lets unit tests hold visitor
/// numbers and reads back to exercise timeouts and reply ordering.
final class InMemoryChatHistory: ChatHistory {
    let loop: any EventLoop
    weak var delegate: (any HistoryWriterDelegate)?
    var nextID: Int64 = 1
    var opened: [ConnectionKey: Int64] = [:]
    /// The peer each opened connection's row names.
    var openedPeers: [ConnectionKey: String] = [:]
    var refused: [(peer: String, reason: String)] = []
    var closed: [ConnectionKey: ConnectionSummary] = [:]
    var messages: [StoredMessage] = []
    /// Last seen, keyed by the lowercased nickname.
    var lastSeenRecords: [String: SeenRecord] = [:]

    /// When set, visitor numbers are not handed out until ``releaseVisitorNumbers()``.
    var holdVisitorNumbers = false
    private var heldVisitors: [(EventLoopPromise<Int64>, Int64)] = []
    /// When set, reads do not answer until ``releaseReads()``.
    var holdReads = false
    private var heldReads: [() -> Void] = []

    init(loop: any EventLoop) { self.loop = loop }

    /// Reservations asked for (each `count` numbers).
    private(set) var reservations: [Int] = []
    private var heldReservations: [EventLoopPromise<Range<Int64>>] = []

    func reserveVisitorNumbers(count: Int) -> EventLoopFuture<Range<Int64>> {
        reservations.append(count)
        let promise = loop.makePromise(of: Range<Int64>.self)
        if holdVisitorNumbers {
            heldReservations.append(promise)
        } else {
            promise.succeed(reserve(count))
        }
        return promise.futureResult
    }

    func returnVisitorNumbers(_ unused: Range<Int64>) -> EventLoopFuture<Void> {
        if nextID == unused.upperBound { nextID = unused.lowerBound }
        return loop.makeSucceededVoidFuture()
    }

    private func reserve(_ count: Int) -> Range<Int64> {
        defer { nextID += Int64(count) }
        return nextID..<(nextID + Int64(count))
    }

    func connectionOpened(
        _ key: ConnectionKey, visitor: Int64?, peer: String, nickname: String?, at time: Timestamp
    ) -> EventLoopFuture<Int64> {
        let id = visitor ?? reserve(1).lowerBound
        opened[key] = id
        openedPeers[key] = peer
        if holdVisitorNumbers && visitor == nil {
            let promise = loop.makePromise(of: Int64.self)
            heldVisitors.append((promise, id))
            return promise.futureResult
        }
        return loop.makeSucceededFuture(id)
    }

    /// Hands out the held visitor numbers of waiting connections, then the held reservations.
    func releaseVisitorNumbers() {
        let held = heldVisitors
        heldVisitors = []
        for (promise, id) in held { promise.succeed(id) }
        let reservations = heldReservations
        heldReservations = []
        for promise in reservations { promise.succeed(reserve(128)) }
    }

    func connectionRefused(visitor: Int64?, peer: String, reason: String, at time: Timestamp) {
        if visitor == nil { _ = reserve(1) }
        refused.append((peer, reason))
    }

    func connectionClosed(_ key: ConnectionKey, _ summary: ConnectionSummary) {
        closed[key] = summary
        if let nickname = summary.nickname {
            lastSeenRecords[nickname.lowercased()] = SeenRecord(nickname: nickname, at: summary.closedAt)
        }
    }

    func messageSaid(_ key: ConnectionKey, nickname: String, kind: MessageKind, body: String, at time: Timestamp) {
        messages.append(StoredMessage(nickname: nickname, kind: kind, body: body, sentAt: time))
    }

    /// `recentMessages(limit:)` calls so far, and when set, the error the next ones fail with.
    private(set) var recentReads = 0
    var failRecentReads: (any Error)?

    func recentMessages(limit: Int) -> EventLoopFuture<[StoredMessage]> {
        recentReads += 1
        if let failRecentReads { return loop.makeFailedFuture(failRecentReads) }
        return answer(Array(messages.suffix(limit)))
    }

    func lastSeen(nickname: String) -> EventLoopFuture<SeenRecord?> {
        answer(lastSeenRecords[nickname.lowercased()])
    }

    func flushed() -> EventLoopFuture<Void> { loop.makeSucceededVoidFuture() }

    private func answer<T>(_ value: T) -> EventLoopFuture<T> {
        let promise = loop.makePromise(of: T.self)
        if holdReads {
            heldReads.append { promise.assumeIsolated().succeed(value) }
        } else {
            promise.assumeIsolated().succeed(value)
        }
        return promise.futureResult
    }

    func releaseReads() {
        let held = heldReads
        heldReads = []
        for read in held { read() }
    }
}
