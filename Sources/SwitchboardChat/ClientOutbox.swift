/// A client's output queue (``SessionOutput``) in an object of its own, so the hub's fan-out can write a
/// broadcast line into it directly: no call through ``ChatClient`` per recipient, and — held `unowned(unsafe)`
/// in ``JoinedClient`` — no retain and release of the client either. A broadcast to 200 clients is 200
/// appends of a range to a queue, as it was before the hub knew clients only through the protocol (the
/// witness call with its retain/release measured ~10 % of fan-out CPU).
///
/// Ownership: created and owned by its client; read and written on the hub's event loop only (the hub's
/// fan-out, and the client when it sends its own lines and flushes at the end of the tick).
final class ClientOutbox {
    /// What the client is about to be sent, in order. Exclusivity is not checked at run time (it cost ~7 %
    /// of fan-out: one check per delivery): every access is on the hub's event loop and none overlaps
    /// another, because nothing called while the output is being changed calls back into its client.
    @exclusivity(unchecked) var output = SessionOutput()

    init() {}

    /// Queues the broadcast line at `range` of `tick`: the hot path of fan-out. `true` when the hub must mark
    /// the client dirty (its first output this tick), as ``SessionOutput/enqueue(_:of:)`` says.
    @inline(__always)
    func deliver(_ range: Range<Int>, of tick: TickLines) -> Bool {
        output.enqueue(range, of: tick)
    }
}

@available(*, unavailable)
extension ClientOutbox: Sendable {}
