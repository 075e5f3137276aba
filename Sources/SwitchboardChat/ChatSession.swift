import NIOCore
import SwitchboardProtocol
import SwitchboardHistory
import SwitchboardCluster

/// One connection's protocol object (Twisted's `Protocol`): takes lines, turns them into commands, and talks
/// to the ``ChatHub``. It knows lines, not telnet: the transport in front of it frames the bytes.
///
/// Pipeline: `[front door: TLS, PROXY] [TelnetLineHandler] [ChatSession]` — the line handler frames telnet
/// (with the line limit) and passes on ``LineInput``: lines, over-long lines, AYT, the negotiation answers to
/// send in order with the rest, and each read's size for the traffic counts. Another transport (a WebSocket
/// frame is a line) puts its own handler there.
///
/// Input is queued, then worked off in bounded turns:
/// ```
///  channelRead(LineInput) ─▶ InboundQueue ─▶ drain() at the end of the read: one input at a time, while the
///                                            hub's per-tick fan-out budget lasts
///                             └─ not empty? NIO's read() is held: TCP pushes back on the client
/// ```
/// So one client's read can cause only a bounded amount of work before the loop serves timers, other
/// sockets and the history writer; the rest waits for the next turn (``ChatHub`` resumes parked sessions).
/// Nothing here flushes or closes the channel synchronously: flushes and closes are handed to the hub,
/// which does them at the end of the tick, so NIO can never re-enter a session from inside its own work.
///
/// Output order: replies that need the database (`/history`, `/seen`) hold a slot in the output queue; any
/// line for this client produced meanwhile waits behind it, so the client sees replies in command order.
///
/// Behind a front door (TLS, a PROXY header) it is admitted at once and opened once through: see
/// ChatSession+FrontDoor.swift.
///
/// Ownership: created for one channel and used only on that channel's event loop, which is the hub's.
public final class ChatSession: ChannelDuplexHandler, ChatClient {
    public typealias InboundIn = LineInput
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum State {
        case connecting  // before the hub admits it
        case refused
        case atTheDoor(ConnectionKey)  // admitted; its TLS handshake or PROXY header is not through yet
        case refusedAtTheDoor(Roster.Refusal)  // told why once through the door
        case admitted(ConnectionKey)  // waiting for the visitor number
        case joined(ConnectionKey)
        case closing(ConnectionKey)  // close requested; the hub closes the channel at the end of the tick
        case closed
    }

    /// Input held before this session is worked off, at most (see ``InboundQueue``).
    static let maximumBufferedInput = InboundQueue.maximumBytes
    /// Database replies (`/history`, `/seen`) one client may have outstanding; more input waits.
    static let maximumOutstandingReplies = 4

    let hub: ChatHub
    /// What the connection passes before the chat starts (nothing, for plain telnet).
    let frontDoor: FrontDoor
    /// Accepted on an `--admin` endpoint: an operator (acting as `admin`) from the start.
    let isAdminConsole: Bool
    /// Whether the hub has recorded this connection's row (history and leave notices follow only then).
    var recordedOpen = false
    var context: ChannelHandlerContext?
    var state = State.connecting
    /// The reason recorded in the history row, and the one shown in the leave notice.
    var closeReason: (recorded: String, shown: String)?
    var closePromise: EventLoopPromise<Void>?

    /// The client's address (`ip:port`, or the socket path for Unix sockets).
    var peer = "unknown"
    /// The IP alone, for the per-address limit.
    var address: String?
    /// When the client last sent a whole line (bytes without a line end do not count: a client trickling
    /// one byte a second is idle).
    private(set) var lastActivity: NIODeadline
    /// When the connection was accepted (for the duration in the log's close line).
    let acceptedAt: NIODeadline
    /// Waiting for fan-out budget (the hub's ``TickScheduler`` keeps who is parked).
    private var isParked: Bool { hub.tick.isParked(self) }
    var traffic = Traffic()

    /// The id the hub admitted this connection under, while it has one.
    var id: ConnectionKey? {
        switch state {
        case .atTheDoor(let id), .admitted(let id), .joined(let id), .closing(let id): return id
        case .connecting, .refused, .refusedAtTheDoor, .closed: return nil
        }
    }

    private var isJoined: Bool {
        if case .joined = state { return true }
        return false
    }

    /// Input waiting to be worked off.
    var inbound = InboundQueue()
    private var draining = false
    /// The hub is deciding a command of this client's (a `/nick` the database decides, in cluster mode): the
    /// input after it waits, so the client's commands take effect in the order it sent them. The hub keeps it.
    private var awaitsHub: Bool { id.map(hub.isDeciding(for:)) ?? false }
    /// A `/quit` waiting for the replies sent before it (``closeWhenAnswered(reason:shownAs:)``).
    var closeWhenAnswered: (reason: String, shown: String)?
    /// NIO asked to read while input was still queued; we pass the read on once the queue is empty.
    private var readHeld = false
    /// The client half-closed: answer what it sent, then close.
    private var inputClosed = false
    /// Lines a client may say in one "behind" episode (``ChatHub/setBehind(_:_:)``) before its input waits
    /// for the episode to end: someone chatting along says a few and goes on; a flooder is held.
    static let linesPerBehindEpisode = 16
    /// The ``ProducerGate/episode`` in which this client last said a line while something was behind,
    /// and how many it said in it.
    private var behindEpisode: (episode: UInt64, lines: Int) = (0, 0)
    /// Holding its next line until history (or the other servers) caught up: see ``ChatHub/setBehind(_:_:)``.
    private var waitsForRelief = false
    /// When this session began to wait for relief.
    private var waitingSince: NIODeadline?

    /// Flood control.
    private var flood: FloodControl

    /// Where the hub's broadcasts and this session's own lines queue up (see ``ClientOutbox``).
    let outbox = ClientOutbox()
    /// What this client is about to be sent, in order (see ``SessionOutput``): the outbox's queue.
    var output: SessionOutput {
        _read { yield outbox.output }
        _modify { yield &outbox.output }
    }

    /// How the client reached the chat (telnet, or a WebSocket from the web listener).
    public let transport: ChatTransport

    /// Creates the handler for one connection of `hub`, behind `frontDoor` (plain telnet: none). `transport`
    /// says how the client came (telnet, or a WebSocket whose `WebSocketLineAdapter` hands this session
    /// ``LineInput`` as the telnet framing does); it shows in the history's `peer` and the metrics. On the admin
    /// console (`isAdminConsole`) the client is an operator from its welcome on.
    public init(hub: ChatHub, frontDoor: FrontDoor = .none, transport: ChatTransport = .telnet, isAdminConsole: Bool = false) {
        self.hub = hub
        self.frontDoor = frontDoor
        self.transport = transport
        self.isAdminConsole = isAdminConsole
        // The loop's clock (virtual on an EmbeddedEventLoop, so tests can drive time).
        self.lastActivity = hub.eventLoop.now
        self.flood = FloodControl(
            rate: hub.configuration.floodRate, burst: hub.configuration.floodBurst, now: hub.eventLoop.now)
        self.acceptedAt = hub.eventLoop.now
    }

    // The state above without `private` is also used by the output and closing half (ChatSession+Output.swift),
    // and by nothing else: the session's own, on its loop.

    // MARK: - Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        // The context holds this handler strongly: keeping it would make the pair (and with it the session's
        // buffers and promises) outlive the connection — about 1 KB kept for every connection ever made.
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        if let remote = context.channel.remoteAddress {
            address = remote.ipAddress
            peer = transport.peerPrefix + (remote.ipAddress != nil ? remote.displayString : "unix:\(remote.displayString)")
        } else if let local = context.channel.localAddress, let path = local.pathname {
            peer = "unix:\(path)"
        }
        guard frontDoor == .none else { return enterTheDoor(context: context) }
        hub.connect(self)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let input = unwrapInboundIn(data)
        if case .received(let bytes) = input {
            traffic.bytesIn += Int64(bytes)
            hub.counters.bytesIn += Int64(bytes)
            return
        }
        switch state {
        case .refused, .refusedAtTheDoor, .closing, .closed, .connecting: return
        case .atTheDoor, .admitted, .joined: break
        }
        if case .dropped(let first) = inbound.append(input) {
            hub.logger.debug("input dropped: too much buffered", metadata: ["peer": "\(peer)"])
            if first { send(ChatText.inputDropped(max: ChatSession.maximumBufferedInput)) }
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        inbound.readComplete()
        if hub.tick.isInCallout {
            // NIO read this socket from inside the hub's own flush or close work: do the work later.
            hub.tick.park(self)
        } else {
            drain()
        }
        context.fireChannelReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        switch state {
        case .atTheDoor, .refusedAtTheDoor:
            // The door (the TLS handshake, the PROXY header) needs the socket read.
            context.read()
            return
        case .connecting, .admitted, .refused:
            // Not joined yet: commands run only once the client has a name (`joinOnce` passes the read on).
            readHeld = true
            return
        case .joined, .closing, .closed:
            break
        }
        if inbound.isEmpty && !isParked && !waitsForRelief {
            context.read()
        } else {
            readHeld = true  // back-pressure: the kernel's buffer fills and TCP slows the client down
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Resets, broken pipes and the like end the connection as a close does.
        hub.logger.debug("connection error", metadata: ["peer": "\(peer)", "error": "\(error)"])
        close(reason: "connection closed")
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // Half-close: the client sent FIN. It still reads: it gets every reply to what it sent, then the
            // connection closes (see `drain`).
            inputClosed = true
            drain()  // a no-op until the session has joined
            return
        }
        if let opened = event as? FrontDoorOpened {
            passedTheDoor(opened, context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Input

    /// Works off queued input while the hub's budget lasts (else parks until the hub resumes it), then lets
    /// NIO read again; after a half-close with everything answered, closes.
    func drain() {
        guard isJoined, !draining, !isParked, !awaitsHub, !waitsForRelief, closeWhenAnswered == nil else { return }
        draining = true
        defer { draining = false }
        while let event = inbound.first {
            guard isJoined else { break }
            guard !awaitsHub else { return }  // resumed by the hub once it has decided
            guard closeWhenAnswered == nil else { return }  // quitting: nothing after /quit is read
            guard output.outstandingReplies < ChatSession.maximumOutstandingReplies else { return }
            guard hub.tick.mayWork else {
                hub.tick.park(self)
                return
            }
            if case .line = event, hub.isBehind, behindEpisode.episode == hub.gate.episode,
                behindEpisode.lines >= ChatSession.linesPerBehindEpisode
            {
                // It said its share since history (or the cluster) fell behind: the next waits for it to catch up.
                waitsForRelief = true
                waitingSince = hub.eventLoop.now
                hub.gate.wait(self)
                return
            }
            inbound.removeFirst()
            handle(event)
        }
        guard isJoined else {
            inbound.removeAll()
            return
        }
        if inputClosed {
            if output.outstandingReplies == 0 { close(reason: "connection closed") }
        } else if readHeld, let context {
            readHeld = false
            context.read()
        }
    }

    private func handle(_ event: LineInput) {
        switch event {
        case .line(let raw):
            traffic.linesIn += 1
            hub.counters.linesIn += 1
            let now = hub.eventLoop.now  // one clock read a line, for the idle sweep and flood control
            lastActivity = now
            handleLine(raw, now: now)
        case .lineTooLong(let maximum):
            traffic.linesIn += 1
            hub.counters.linesIn += 1
            lastActivity = hub.eventLoop.now
            send(ChatText.lineTooLong(max: maximum))  // the limit this connection started with
        case .reply(let bytes):
            // Telnet's answer (WILL TIMING-MARK, WONT/DONT): raw bytes, never sanitised. Until a Ctrl-C's timing
            // mark is answered, telnet shows nothing the server sends.
            let buffer = ByteBuffer(bytes: bytes)
            hub.tick.charge(buffer.readableBytes)
            if output.enqueue(buffer, countsAsLine: false) { hub.tick.markDirty(self) }
        case .areYouThere:
            send(ChatText.stillHere)
        case .received:
            break  // counted as it arrived, never queued
        }
    }

    // MARK: - Commands

    /// Flood control and sanitising are the session's; what the command means is the hub's.
    private func handleLine(_ raw: [UInt8], now: NIODeadline) {
        guard takeFloodToken(now: now), case .joined(let id) = state else { return }
        let line = ChatLine.parse(TextSanitizer.clean(raw))
        // A private message says something too: it is not stored, but one to another server's member crosses
        // to it, so a /msg flood is held back like any other while the cluster's sending is backlogged.
        if hub.isBehind && ChatCommands.saysALine(line) {
            if behindEpisode.episode == hub.gate.episode {
                behindEpisode.lines += 1
            } else {
                behindEpisode = (hub.gate.episode, 1)
            }
        }
        hub.perform(line, from: self, id)
    }

    /// What consumed chat lines caught up: the line this session held goes on.
    func relieved() {
        waitsForRelief = false
        let now = hub.eventLoop.now
        // What it sent while held arrives at once now: that is the server's doing, not a flood.
        if let since = waitingSince { flood.credit(heldFor: now - since, now: now) }
        waitingSince = nil
        drain()
    }

    private func takeFloodToken(now: NIODeadline) -> Bool {
        let configured = hub.configuration
        switch flood.take(rate: configured.floodRate, burst: configured.floodBurst, now: now) {
        case .pass: return true
        case .drop(let tell):
            hub.counters.floodDrops += 1
            if tell { send(ChatText.slowDown) }
            return false
        }
    }
}

// Confined to its channel's event loop; see the type's documentation.
@available(*, unavailable)
extension ChatSession: Sendable {}
