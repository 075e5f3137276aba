/// A joined client as the hub's fan-out list holds it: the client and its ``ClientOutbox``, both unowned, so a
/// broadcast neither retains and releases every recipient nor calls it: it appends to the outbox directly.
/// Safe because each client is held strongly in ``ChatHub/sessions`` (and holds its outbox) for as long as it
/// is in the list, and nothing a broadcast calls can remove one (closes wait for the end of the tick). On the
/// hub's loop.
struct JoinedClient {
    unowned(unsafe) let client: any ChatClient
    /// Unmanaged, not `unowned(unsafe)`: a method call on an `unowned(unsafe)` reference still retains and
    /// releases it around the call; `_withUnsafeGuaranteedRef` does not.
    let outbox: Unmanaged<ClientOutbox>

    init(_ client: any ChatClient) {
        self.client = client
        self.outbox = Unmanaged.passUnretained(client.outbox)
    }

    /// Queues the broadcast line at `range` of `tick` in this client's outbox; `true` on its first this tick.
    @inline(__always)
    func deliver(_ range: Range<Int>, of tick: TickLines) -> Bool {
        outbox._withUnsafeGuaranteedRef { $0.deliver(range, of: tick) }
    }
}
