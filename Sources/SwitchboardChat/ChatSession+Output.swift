import NIOCore
import SwitchboardHistory

/// The session's output and closing half: what the hub queues for the client, the flush at the end of the
/// tick, database replies in order, and the close with its recorded reason. On the session's event loop.
extension ChatSession {
    // MARK: - Output

    /// Queues one line (CRLF added) for this client; the hub flushes it at the end of the tick.
    func send(_ line: String) {
        let buffer = ChatSession.encode(line)
        hub.tick.charge(buffer.readableBytes)
        if output.enqueue(buffer) { hub.tick.markDirty(self) }
    }

    /// Hands this tick's lines to the channel (slices of the hub's shared tick buffer, and one buffer of
    /// what only this client gets; WebSocket text frames when the transport wants them) and flushes. Called only by the hub, at the end of the tick, never from
    /// inside a fan-out. Returns `false` when the channel's send queue stays over
    /// `--max-sendq` after the flush: the client is not reading.
    func flush(tick: TickLines) -> Bool {
        guard let context else { return true }
        switch state {
        case .closed, .atTheDoor, .refusedAtTheDoor:
            return true  // not through the door: nothing goes out in the clear before a TLS handshake
        default:
            break
        }
        hub.counters.bytesOut += Int64(output.pendingBytes)
        output.take(sharing: tick, framing: transport.framing) { context.write(wrapOutboundOut($0), promise: nil) }
        context.flush()
        return !context.channel.isActive || context.channel.isWritable
    }

    /// Sends the lines a database read produces, in order with everything else this client is sent; after
    /// ``ChatConfiguration/historyReadWait`` without them, `unavailable` instead.
    func reply(_ lines: EventLoopFuture<[String]>, unavailable: String = ChatText.historyUnavailable) {
        let id = output.reserveReply()
        let timeout = hub.eventLoop.assumeIsolated().scheduleTask(in: hub.configuration.historyReadWait) {
            self.completeReply(id, [unavailable])
        }
        lines.assumeIsolated().whenComplete { result in
            timeout.cancel()
            switch result {
            case .success(let lines): self.completeReply(id, lines)
            case .failure(let error):
                self.hub.logger.warning("history read failed", metadata: ["error": "\(error)"])
                self.completeReply(id, [unavailable])
            }
        }
    }

    private func completeReply(_ id: UInt64, _ lines: [String]) {
        let encoded = lines.map(ChatSession.encode)
        guard let needsFlush = output.completeReply(id, with: encoded) else { return }
        if needsFlush { hub.tick.markDirty(self) }
        if let pending = closeWhenAnswered, output.outstandingReplies == 0 {
            closeWhenAnswered = nil
            close(reason: pending.reason, shownAs: pending.shown)
            return
        }
        drain()  // input may have waited for this reply; after a half-close this may be the last one
    }

    /// One line as the client receives it: UTF-8 plus CRLF.
    static func encode(_ line: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(line.utf8.count + 2)
        buffer.writeChatLine(line)
        return buffer
    }

    /// One line as this client's transport takes it, for what goes to the channel without ``output``: a CRLF
    /// line, or one WebSocket text frame.
    func encodeForTransport(_ line: String) -> ByteBuffer {
        switch transport.framing {
        case .crlf:
            return ChatSession.encode(line)
        case .webSocketText:
            var buffer = ByteBuffer()
            buffer.reserveCapacity(line.utf8.count + 10)
            buffer.writeWebSocketFrameHeader(opcode: ByteBuffer.webSocketTextOpcode, payloadLength: line.utf8.count)
            buffer.writeString(line)
            return buffer
        }
    }

    // MARK: - Closing

    /// Asks for the connection to close with `reason` (recorded in history; `shownAs`, if given, is what
    /// others see in the leave notice). The hub flushes what this client was sent and closes the channel at
    /// the end of the tick. Completes when the channel is closed.
    @discardableResult
    func close(reason: String, shownAs shown: String? = nil) -> EventLoopFuture<Void> {
        if closeReason == nil { closeReason = (reason, shown ?? reason) }
        if let closePromise { return closePromise.futureResult }
        guard let context else { return hub.eventLoop.makeSucceededVoidFuture() }
        switch state {
        case .closed: return hub.eventLoop.makeSucceededVoidFuture()
        case .atTheDoor(let id), .admitted(let id), .joined(let id): state = .closing(id)
        case .connecting, .refused, .refusedAtTheDoor, .closing: break
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        closePromise = promise
        context.channel.closeFuture.cascade(to: promise)
        hub.tick.scheduleClose(self)
        return promise.futureResult
    }

    /// Closes once every reply this client is owed has been sent (a `/quit` after `/history` gets the history,
    /// then `* bye`); input after it is not read.
    func closeWhenAnswered(reason: String, shownAs shown: String) {
        guard output.outstandingReplies > 0 else {
            close(reason: reason, shownAs: shown)
            return
        }
        closeWhenAnswered = (reason, shown)
    }

    /// Closes the channel now, after flushing its last lines. Called only by the hub at the end of a tick.
    func closeNow() {
        guard let context else { return }
        if case .closed = state { return }
        _ = flush(tick: hub.tick.lines)
        context.close(promise: nil)
    }

    func finish() {
        let id = self.id
        if case .closed = state { return }
        state = .closed
        output.close()
        inbound.removeAll()
        guard let id else { return }  // refused connections were never admitted
        guard recordedOpen else { return hub.withdraw(self, id) }  // it never got through the front door
        let reason = closeReason ?? ("connection closed", "connection closed")
        traffic.linesOut = output.lines
        traffic.bytesOut = output.bytes
        hub.leave(self, id, reason: reason.recorded, shownAs: reason.shown, traffic: traffic)
    }
}
