import NIOCore
import SwitchboardProtocol
import SwitchboardStorage

/// One connection's protocol object (Twisted's `Protocol`/`LineReceiver`): frames telnet input into lines,
/// turns lines into commands, and talks to the ``ChatHub``.
///
/// Pipeline: `[ChatSession]` alone; it frames bytes itself with a ``TelnetLineParser`` so the line limit,
/// the traffic counters and the flush-per-read-batch all live in one place.
///
/// Output order: replies that need the database (`/history`, `/seen`) hold a slot in the output queue; any
/// line for this client produced meanwhile waits behind it, so the client sees replies in command order.
///
/// Ownership: created for one channel and used only on that channel's event loop, which is the hub's.
public final class ChatSession: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case connecting  // admitted, waiting for the visitor number
        case joined
        case closed
    }

    let hub: ChatHub
    private var context: ChannelHandlerContext?
    private var parser: TelnetLineParser
    private var state = State.connecting
    private var closeReason: String?
    private var closePromise: EventLoopPromise<Void>?
    private var finished = false

    /// Assigned by the hub at admission.
    var key = ConnectionKey(0)
    /// The client's address (`ip:port`, or the socket path for Unix sockets).
    private(set) var peer = "unknown"
    /// The IP alone, for the per-address limit.
    private(set) var address: String?
    var nickname = ""
    /// Index in the hub's member list while joined.
    var memberIndex: Int?
    private(set) var lastActivity: NIODeadline

    private var linesIn: Int64 = 0
    private var bytesIn: Int64 = 0

    // Flood control: a token bucket.
    private var floodTokens: Double
    private var floodRefilledAt: NIODeadline
    private var lastSlowDownNotice: NIODeadline?

    /// What this client is about to be sent, in order (see ``SessionOutput``).
    private var output: SessionOutput

    /// Creates the handler for one connection of `hub`.
    public init(hub: ChatHub) {
        self.hub = hub
        self.parser = TelnetLineParser(maximumLineLength: hub.configuration.maximumLineLength)
        self.floodTokens = hub.configuration.floodBurst
        self.output = SessionOutput(flushThreshold: hub.configuration.maximumSendQueueBytes)
        // The loop's clock (virtual on an EmbeddedEventLoop, so tests can drive time).
        self.lastActivity = hub.eventLoop.now
        self.floodRefilledAt = hub.eventLoop.now
    }

    // MARK: - Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func channelActive(context: ChannelHandlerContext) {
        if let remote = context.channel.remoteAddress {
            address = remote.ipAddress
            peer = remote.ipAddress != nil ? remote.displayString : "unix:\(remote.displayString)"
        } else if let local = context.channel.localAddress, let path = local.pathname {
            peer = "unix:\(path)"
        }
        if let refusal = hub.admit(self) {
            state = .closed
            context.writeAndFlush(wrapOutboundOut(ChatSession.encode(refusal.line))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        let wait = hub.eventLoop.assumeIsolated().scheduleTask(in: hub.configuration.visitorNumberWait) {
            self.joinOnce(visitor: nil)
        }
        hub.history.connectionOpened(key, peer: peer, nickname: nil, at: Timestamp.now())
            .assumeIsolated()
            .whenComplete { result in
                wait.cancel()
                self.joinOnce(visitor: try? result.get())
            }
        context.fireChannelActive()
    }

    private func joinOnce(visitor: Int64?) {
        guard state == .connecting, let context else { return }
        state = .joined
        hub.join(self, visitor: visitor)
        // Input was not read until now (autoRead starts off): commands run only once we have a name.
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        finish(reason: closeReason ?? "connection closed")
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        bytesIn += Int64(buffer.readableBytes)
        lastActivity = hub.eventLoop.now
        guard state == .joined else { return }
        buffer.withUnsafeReadableBytes { bytes in
            parser.feed(bytes) { event in
                guard state == .joined else { return }
                switch event {
                case .line(let raw):
                    linesIn += 1
                    handleLine(raw)
                case .lineTooLong:
                    linesIn += 1
                    send(ChatText.lineTooLong(max: hub.configuration.maximumLineLength))
                }
            }
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !context.channel.isWritable {
            // Unflushed writes count toward the mark too, so one big read batch from a flooder can pass it for
            // a client that reads fine (we flush once per batch). Flush now: only a queue that stays over the
            // mark means the client is not reading, and then its queue passed --max-sendq: cut it off.
            context.flush()
            if !context.channel.isWritable { close(reason: "send queue exceeded") }
        }
        context.fireChannelWritabilityChanged()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Resets, broken pipes and the like end the connection as a close does.
        hub.logger.debug("connection error", metadata: ["peer": "\(peer)", "error": "\(error)"])
        close(reason: "connection closed")
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // Half-close: the client sent FIN. Treat it as leaving; whatever it sent before was handled.
            close(reason: "connection closed")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Commands

    private func handleLine(_ raw: [UInt8]) {
        if !takeFloodToken() { return }
        let text = TextSanitizer.clean(raw)
        switch ChatCommand.parse(text) {
        case .empty:
            break
        case .say(let body):
            hub.say(self, body, kind: .say)
        case .me(let body):
            hub.say(self, body, kind: .me)
        case .nick(let name):
            if let error = hub.rename(self, to: name) { send(error) }
        case .who:
            send(hub.whoLine())
        case .count:
            send(hub.countLine())
        case .privateMessage(let target, let body):
            if !hub.privateMessage(from: self, to: target, body) { send(ChatText.noSuchNick(target)) }
        case .history(let count):
            reply(
                hub.history.recentMessages(limit: count).map { messages in
                    messages.map(ChatText.historyLine) + [ChatText.endOfHistory]
                })
        case .seen(let name):
            if let online = hub.onlineNickname(name) {
                send(ChatText.online(online))
            } else {
                reply(hub.history.lastSeen(nickname: name).map { seen in
                    [seen.map { ChatText.seen($0.nickname, at: $0.at) } ?? ChatText.neverSeen(name)]
                })
            }
        case .quit(let reason):
            close(reason: reason.map { "quit: \($0)" } ?? "quit")
        case .help:
            for line in ChatCommand.helpLines { send("* " + line) }
        case .usage(let usage):
            send(ChatText.usage(usage))
        case .unknown(let name):
            send(ChatText.unknownCommand(name))
        }
    }

    private func takeFloodToken() -> Bool {
        let rate = hub.configuration.floodRate
        guard rate > 0 else { return true }
        let now = hub.eventLoop.now
        let elapsed = Double((now - floodRefilledAt).nanoseconds) / 1e9
        floodRefilledAt = now
        floodTokens = min(hub.configuration.floodBurst, floodTokens + elapsed * rate)
        if floodTokens >= 1 {
            floodTokens -= 1
            return true
        }
        if lastSlowDownNotice.map({ now - $0 >= .seconds(1) }) ?? true {
            lastSlowDownNotice = now
            send(ChatText.slowDown)
        }
        return false
    }

    // MARK: - Output

    /// Queues one line (CRLF added) for this client; the hub flushes it at the end of the tick.
    func send(_ line: String) {
        deliver(ChatSession.encode(line))
    }

    /// Queues an encoded line (shared by a broadcast) for this client. The hot path of fan-out.
    func deliver(_ buffer: ByteBuffer) {
        apply(output.enqueue(buffer))
    }

    private func apply(_ effect: SessionOutput.Effect) {
        switch effect {
        case .none: break
        case .scheduleFlush: hub.markDirty(self)
        case .flushNow:
            hub.markDirty(self)
            flush()  // a huge tick: hand it to NIO now, so the send-queue limit can judge it
        }
    }

    /// Hands this tick's lines to the channel as one buffer and flushes (called by the hub once per tick).
    func flush() {
        guard let context else { return }
        if let pending = output.take() {
            context.write(wrapOutboundOut(pending), promise: nil)
        }
        context.flush()
    }

    /// Sends the lines a database read produces, in order with everything else this client is sent.
    private func reply(_ lines: EventLoopFuture<[String]>) {
        let id = output.reserveReply()
        let timeout = hub.eventLoop.assumeIsolated().scheduleTask(in: hub.configuration.historyReadWait) {
            self.completeReply(id, [ChatText.historyUnavailable])
        }
        lines.assumeIsolated().whenComplete { result in
            timeout.cancel()
            switch result {
            case .success(let lines): self.completeReply(id, lines)
            case .failure(let error):
                self.hub.logger.warning("history read failed", metadata: ["error": "\(error)"])
                self.completeReply(id, [ChatText.historyUnavailable])
            }
        }
    }

    private func completeReply(_ id: UInt64, _ lines: [String]) {
        let encoded = lines.map(ChatSession.encode)
        if let effect = output.completeReply(id, with: encoded) { apply(effect) }
    }

    /// One line as the client receives it: UTF-8 plus CRLF.
    static func encode(_ line: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(line.utf8.count + 2)
        buffer.writeString(line)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    // MARK: - Closing

    /// Closes the connection with `reason` (recorded and announced). Completes when the channel is closed.
    @discardableResult
    func close(reason: String) -> EventLoopFuture<Void> {
        if closeReason == nil { closeReason = reason }
        guard let context else { return hub.eventLoop.makeSucceededVoidFuture() }
        if let closePromise { return closePromise.futureResult }
        let promise = context.eventLoop.makePromise(of: Void.self)
        closePromise = promise
        flush()  // what this client was sent goes out before the close; others flush at tick end
        context.close(promise: nil)
        context.channel.closeFuture.cascade(to: promise)
        return promise.futureResult
    }

    private func finish(reason: String) {
        guard !finished else { return }
        finished = true
        state = .closed
        output.close()
        if key.rawValue != 0 { hub.leave(self, reason: reason) }  // refused connections were never admitted
    }

    /// The history record's closing line.
    func summary(reason: String) -> ConnectionSummary {
        ConnectionSummary(
            nickname: nickname.isEmpty ? nil : nickname, closedAt: Timestamp.now(), reason: reason,
            linesIn: linesIn, linesOut: output.lines, bytesIn: bytesIn, bytesOut: output.bytes)
    }
}

// Confined to its channel's event loop; see the type's documentation.
@available(*, unavailable)
extension ChatSession: Sendable {}
