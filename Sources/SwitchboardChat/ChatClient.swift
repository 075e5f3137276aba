import NIOCore
import SwitchboardHistory

/// Everything the hub may call on a client: the one contract from ``ChatHub`` to a connection, as Twisted
/// words' `IChatClient` is from a group to its users. ``ChatSession`` is the one conformer on a channel; a
/// test can drive the hub with its own.
///
/// The hub holds clients only as this protocol, so a transport's details (telnet, WebSocket, TLS, the
/// session's output queue and input turns) stay on the session's side. The other way, a client calls the
/// hub's `connect`, `perform`, `passedTheDoor` and `leave` (ChatHub.swift, ChatHub+Commands.swift).
///
/// A client's arrival, as the hub drives it (``ChatHub/connect(_:)``):
/// ```
///  connect ─▶ admit ── refused ─▶ refuse(why)              (the client says why and closes)
///               └─ admitted ─▶ admitted(id) ─▶ row recorded ─▶ visitor number (bounded wait)
///                    ─▶ joining(id)? ── no: it is closing meanwhile, nothing more
///                         └─ yes ─▶ send(welcome), MOTD, history, notice to others ─▶ drain()
/// ```
///
/// State the hub keeps about a client (parked for budget, awaiting a decision, waiting for relief's turn)
/// lives in the hub and its ``TickScheduler``, ``ProducerGate`` and ``ChatHub/deciding``, never in flags the hub
/// sets on the client. Every member is called on the hub's event loop only.
protocol ChatClient: FanOutWorker {
    // MARK: Who it is (read by the hub)

    /// The id the hub admitted it under, while it has one.
    var id: ConnectionKey? { get }
    /// The client's address as shown to operators and recorded (`ip:port`, `ws:ip:port`, `unix:PATH`).
    var peer: String { get }
    /// The IP alone, for per-address limits and bans (`nil` on a Unix socket, or behind a proxy until its header).
    var address: String? { get }
    /// How it reached the chat (telnet, or a WebSocket).
    var transport: ChatTransport { get }
    /// What it passed before the chat (TLS, a PROXY header): whether a password is private on it.
    var frontDoor: FrontDoor { get }
    /// Accepted on an `--admin` endpoint: an operator from its welcome on.
    var isAdminConsole: Bool { get }
    /// When it was accepted (the duration in the log's close line).
    var acceptedAt: NIODeadline { get }
    /// When it last sent a whole line (the idle sweep).
    var lastActivity: NIODeadline { get }

    // MARK: Arrival

    /// Refused (server full, too many from its address, banned): it says `refusal`'s line and closes.
    func refuse(_ refusal: Roster.Refusal)
    /// Admitted under `id`: its row is being recorded; the welcome follows (``joining(_:)``).
    func admitted(_ id: ConnectionKey)
    /// About to be welcomed under `id` (the welcome line follows through ``send(_:)``). `false` when it began
    /// to close meanwhile: then it is not joined and nobody is told.
    func joining(_ id: ConnectionKey) -> Bool

    // MARK: Lines

    /// Queues one line (no CRLF) for this client alone; flushed at the end of the tick.
    func send(_ line: String)
    /// Where a broadcast puts this tick's shared lines for it: the hub appends ranges of ``TickLines`` to it
    /// directly (the hot path of fan-out, no call per recipient), marks it dirty on its first, and at the end
    /// of the tick ``flush(tick:)`` hands what is queued to the transport. The same object for the client's life.
    var outbox: ClientOutbox { get }
    /// Sends what a database read produces, in order with everything else it is sent; `unavailable` if the
    /// read fails or takes longer than ``ChatConfiguration/historyReadWait``.
    func reply(_ lines: EventLoopFuture<[String]>, unavailable: String)

    // MARK: The end of the tick (``TickScheduler`` only)

    /// Hands this tick's lines to the transport and flushes; `false` when its send queue stays over `--max-sendq`.
    func flush(tick: TickLines) -> Bool
    /// Closes the transport now, after flushing its last lines.
    func closeNow()

    // MARK: Flow and closing

    /// What consumed chat lines caught up (``ProducerGate``): the line it held goes on.
    func relieved()
    /// Asks it to close with `reason` (recorded; `shown` in the leave notice, `nil` for the same); the hub closes
    /// the transport at the end of the tick. Completes when it is closed.
    @discardableResult
    func close(reason: String, shownAs shown: String?) -> EventLoopFuture<Void>
    /// Closes once every reply it is owed has been sent; nothing it sends after is read.
    func closeWhenAnswered(reason: String, shownAs shown: String)
}

extension ChatClient {
    /// Asks it to close with `reason`, shown to others as recorded.
    @discardableResult
    func close(reason: String) -> EventLoopFuture<Void> { close(reason: reason, shownAs: nil) }

    /// Sends a database read's lines, or the history's unavailable line.
    func reply(_ lines: EventLoopFuture<[String]>) { reply(lines, unavailable: ChatText.historyUnavailable) }
}
