import Logging
import NIOCore
import SwitchboardDatabase
import SwitchboardHistory

/// Visitor numbers reserved from the database in blocks, so a welcome needs no round trip; and the
/// connections waiting for the next block, each with its bounded wait.
///
/// ```
///  open(id) ─▶ a number in hand?  yes ─▶ row recorded with it ─▶ then(number), at once
///                                  no, a block is on its way ─▶ waits (at most `wait`) ─▶ then(number or nil)
///                                  no, none coming ─▶ the database numbers the row ─▶ then(its number or nil)
/// ```
/// Half a block left starts the next refill; a failed refill waits before the next try (``VisitorNumbers``).
/// Numbers follow the order people arrived in: waiters are settled in arrival order when the block lands.
///
/// Ownership: the hub's; used on the hub's event loop only.
final class VisitorNumberReservation {
    private let eventLoop: any EventLoop
    private let history: any ChatHistory
    private let logger: Logger
    private var numbers: VisitorNumbers
    private var waiters: [Waiter] = []
    private var refillInFlight: EventLoopFuture<Void>?
    private var isStopped = false

    /// A connection waiting for the block on its way.
    private struct Waiter {
        let id: ConnectionKey
        let peer: String
        let at: Timestamp
        let promise: EventLoopPromise<Int64>
    }

    init(eventLoop: any EventLoop, history: any ChatHistory, blockSize: Int, logger: Logger) {
        self.eventLoop = eventLoop
        self.history = history
        self.logger = logger
        self.numbers = VisitorNumbers(blockSize: blockSize)
    }

    /// Records an admitted connection's row and calls `then` once with its visitor number: at once when one
    /// is in hand; else when it is known, or with `nil` after `wait` (the welcome does not wait longer; the
    /// row still gets its number).
    func open(_ id: ConnectionKey, peer: String, wait: TimeAmount, then: @escaping (Int64?) -> Void) {
        let time = Timestamp.now()
        if let number = take() {
            _ = history.connectionOpened(id, visitor: number, peer: peer, nickname: nil, at: time)
            return then(number)
        }
        let visitor: EventLoopFuture<Int64>
        if numbers.isRefilling {
            let promise = eventLoop.makePromise(of: Int64.self)
            waiters.append(Waiter(id: id, peer: peer, at: time, promise: promise))
            visitor = promise.futureResult
        } else {
            visitor = history.connectionOpened(id, visitor: nil, peer: peer, nickname: nil, at: time)
        }
        var answered = false
        let once: (Int64?) -> Void = { number in
            guard !answered else { return }
            answered = true
            then(number)
        }
        let timer = eventLoop.assumeIsolated().scheduleTask(in: wait) { once(nil) }
        visitor.assumeIsolated().whenComplete { result in
            timer.cancel()
            once(try? result.get())
        }
    }

    /// A number for a refused connection's row, if one is in hand.
    func take() -> Int64? {
        defer { refillIfNeeded() }
        return numbers.take()
    }

    /// `id` is leaving while it waits: its row is recorded now (numbered by the database), before it is closed.
    func settle(_ id: ConnectionKey) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        waiter.promise.completeWith(
            history.connectionOpened(waiter.id, visitor: nil, peer: waiter.peer, nickname: nil, at: waiter.at))
    }

    /// Records the waiting connections' rows, in arrival order: with numbers from the block that just landed,
    /// or (none landed, or it ran out) numbers the database reserves as it writes them.
    private func settleAll() {
        let settling = waiters
        waiters.removeAll()
        for waiter in settling {
            if let number = numbers.take() {
                _ = history.connectionOpened(waiter.id, visitor: number, peer: waiter.peer, nickname: nil, at: waiter.at)
                waiter.promise.succeed(number)
            } else {
                waiter.promise.completeWith(
                    history.connectionOpened(waiter.id, visitor: nil, peer: waiter.peer, nickname: nil, at: waiter.at))
            }
        }
    }

    /// Asks the database for the next block when half of one is left (and the last failure is old enough).
    func refillIfNeeded() {
        guard !isStopped, numbers.needsRefill(now: eventLoop.now) else { return }
        numbers.refillStarted()
        refillInFlight = history.reserveVisitorNumbers(count: numbers.blockSize).assumeIsolated().map { block in
            self.numbers.refilled(block)
            self.settleAll()
            self.refillIfNeeded()
        }.flatMapErrorThrowing { error in
            self.numbers.refillFailed(now: self.eventLoop.now)
            self.logger.debug("cannot reserve visitor numbers", metadata: ["error": "\(error)"])
            self.settleAll()
            self.refillIfNeeded()  // not before the failure's pause is over
        }.nonisolated()
    }

    /// Completes when the block on its way (if any) has landed: the server waits for the first one before it
    /// listens, so the first welcomes need no round trip either.
    func ready() -> EventLoopFuture<Void> {
        guard numbers.isRefilling, let refillInFlight else { return eventLoop.makeSucceededVoidFuture() }
        return refillInFlight
    }

    /// No more refills; the waiters' rows are recorded, and the numbers left unused go back to the database
    /// (so the next start goes on from here rather than skipping the rest of the block).
    func stop() -> EventLoopFuture<Void> {
        isStopped = true
        settleAll()
        guard let unused = numbers.takeUnused() else { return eventLoop.makeSucceededVoidFuture() }
        return history.returnVisitorNumbers(unused).recover { _ in }
    }
}

// Confined to the hub's event loop; see the type's documentation.
@available(*, unavailable)
extension VisitorNumberReservation: Sendable {}
