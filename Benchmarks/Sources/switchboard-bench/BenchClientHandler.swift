import NIOCore

/// One benchmark client connection: reads the server's first line (the welcome), counts relayed
/// `BENCH` lines into its loop's ``DeliveryTally``, and sends its own `BENCH` lines either as a burst
/// or at a paced rate.
///
/// ```
/// server → client:  * Welcome, guest3! …\r\n      (first line: fulfils `welcome`)
///                   <guest4> BENCH 4 0 812…\r\n    (counted; latency = now − 812…)
/// client → server:  BENCH 3 0 812…\r\n BENCH 3 1 812…\r\n …   (batched, one flush per batch)
/// ```
///
/// Lives on its channel's event loop; every method must be called there.
final class BenchClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Succeeds when the first line arrives; fails if the channel closes first.
    let welcome: EventLoopPromise<Void>
    /// Succeeds when this client has received the deliveries set by ``expect(deliveries:)``.
    let done: EventLoopPromise<Void>

    private let clientID: Int
    private let tally: DeliveryTally
    private var splitter = LineSplitter()
    private var sawWelcome = false
    private var received = 0
    private var expected = Int.max
    private var context: ChannelHandlerContext?
    private var sender: Sender = .idle

    /// How this client is sending right now.
    private enum Sender {
        case idle
        /// Send `total` lines as fast as possible, `batch` per flush.
        case burst(sent: Int, total: Int, batch: Int, waitingForWritable: Bool)
        /// Send `total` lines, line `n` due at `startNs + n * intervalNs`.
        case paced(sent: Int, total: Int, startNs: UInt64, intervalNs: UInt64)
    }

    init(clientID: Int, tally: DeliveryTally, eventLoop: EventLoop) {
        self.clientID = clientID
        self.tally = tally
        self.welcome = eventLoop.makePromise(of: Void.self)
        self.done = eventLoop.makePromise(of: Void.self)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        // Also reached when the connect fails and channelInactive never fires: no promise may leak.
        self.welcome.fail(BenchError.closedBeforeWelcome)
        self.done.succeed()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = MonotonicClock.now()
        self.splitter.feed(self.unwrapInboundIn(data)) { line in
            guard self.sawWelcome else {
                self.sawWelcome = true
                self.tally.welcomed += 1
                self.welcome.succeed()
                return
            }
            if case .bench(let sendTimeNs) = BenchLineParser.classify(line) {
                self.received += 1
                self.tally.recordDelivery(receivedAtNs: now, sendTimeNs: sendTimeNs)
            }
        }
        if self.received >= self.expected {
            self.done.succeed()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.welcome.fail(BenchError.closedBeforeWelcome)
        // A closed client will receive nothing more: let the run finish and report the shortfall.
        self.done.succeed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .burst(let sent, let total, let batch, true) = self.sender, context.channel.isWritable {
            self.sender = .burst(sent: sent, total: total, batch: batch, waitingForWritable: false)
            self.sendBurstBatch()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Sets how many `BENCH` lines this client must receive before ``done`` succeeds.
    func expect(deliveries: Int) {
        self.expected = deliveries
        if self.received >= deliveries {
            self.done.succeed()
        }
    }

    /// Starts sending `lines` lines as fast as the channel takes them, `batch` lines per flush.
    /// Yields to the event loop between batches so reads keep being served.
    func startBurst(lines: Int, batch: Int) {
        self.sender = .burst(sent: 0, total: lines, batch: max(1, batch), waitingForWritable: false)
        self.sendBurstBatch()
    }

    /// Starts sending `lines` lines, line `n` at `startNs + n * intervalNs`. The embedded send time is
    /// the time the line was due, not when it went out, so a late sender shows up as latency instead
    /// of hiding it (no coordinated omission).
    func startPaced(lines: Int, startNs: UInt64, intervalNs: UInt64) {
        self.sender = .paced(sent: 0, total: lines, startNs: startNs, intervalNs: max(1, intervalNs))
        self.sendPacedLines()
    }

    private func sendBurstBatch() {
        guard let context, case .burst(var sent, let total, let batch, _) = self.sender else { return }
        var buffer = context.channel.allocator.buffer(capacity: min(batch, total - sent) * 40)
        let firstNs = MonotonicClock.now()
        var count = 0
        while sent < total, count < batch {
            LineWriter.writeBenchLine(
                client: self.clientID, sequence: sent, sendTimeNs: count == 0 ? firstNs : MonotonicClock.now(),
                to: &buffer
            )
            sent += 1
            count += 1
        }
        self.tally.recordSend(lines: count, atNs: firstNs)
        context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
        guard sent < total else {
            self.sender = .idle
            return
        }
        let writable = context.channel.isWritable
        self.sender = .burst(sent: sent, total: total, batch: batch, waitingForWritable: !writable)
        if writable {
            context.eventLoop.assumeIsolated().execute { self.sendBurstBatch() }
        }
    }

    private func sendPacedLines() {
        guard let context, case .paced(var sent, let total, let startNs, let intervalNs) = self.sender else { return }
        let now = MonotonicClock.now()
        let due = now < startNs ? 0 : min(total, Int((now - startNs) / intervalNs) + 1)
        if due > sent {
            var buffer = context.channel.allocator.buffer(capacity: (due - sent) * 40)
            for sequence in sent..<due {
                LineWriter.writeBenchLine(
                    client: self.clientID, sequence: sequence, sendTimeNs: startNs + UInt64(sequence) * intervalNs,
                    to: &buffer
                )
            }
            self.tally.recordSend(lines: due - sent, atNs: now)
            context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
            sent = due
        }
        guard sent < total else {
            self.sender = .idle
            return
        }
        self.sender = .paced(sent: sent, total: total, startNs: startNs, intervalNs: intervalNs)
        // Wake when the next line is due, but no more often than every 0.5 ms: at higher per-client
        // rates several due lines go out per wake-up.
        let nextDueNs = startNs + UInt64(sent) * intervalNs
        let delayNs = max(Int64(nextDueNs) - Int64(MonotonicClock.now()), 500_000)
        context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(delayNs)) { self.sendPacedLines() }
    }
}

@available(*, unavailable)
extension BenchClientHandler: Sendable {}
