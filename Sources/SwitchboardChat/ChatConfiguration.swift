import NIOCore

/// The limits and timings a hub enforces. Defaults are the server's defaults (see README "Operating").
public struct ChatConfiguration: Sendable {
    /// Most content bytes in one input line (`--max-line`).
    public var maximumLineLength = 1024
    /// Most clients connected at once (`--max-clients`); more are refused with `! server full`.
    public var maximumClients = 10_000
    /// Most clients from one IP address (`--max-per-ip`); 0 means no limit.
    public var maximumClientsPerAddress = 0
    /// Most bytes queued for one client before it is disconnected (`--max-sendq`).
    public var maximumSendQueueBytes = 256 * 1024
    /// Lines per second a client may send on average (`--flood-rate`); 0 disables flood control.
    public var floodRate: Double = 10
    /// Lines a client may send in a burst (`--flood-burst`).
    public var floodBurst: Double = 20
    /// Seconds without input after which a client is disconnected (`--idle-timeout`); 0 disables it.
    public var idleTimeout: TimeAmount = .zero
    /// How long a new client's welcome waits for the database's visitor number before saying `#unknown`.
    public var visitorNumberWait: TimeAmount = .seconds(2)
    /// Visitor numbers reserved from the database at a time (`--visitor-number-block`), so a welcome needs
    /// no database round trip; a restart skips what was left of a block. 0: every welcome waits for its row.
    public var visitorNumberBlock = 128
    /// How long `/history` and `/seen` wait for the database before answering that it is unavailable.
    public var historyReadWait: TimeAmount = .seconds(5)
    /// Join and leave notices a second announced by name (`--notice-rate`); above it they are batched
    /// into one `* J joined, L left (N clients connected)` line a second. 0 names every one.
    public var noticeRate = 20
    /// Bytes of output (line size × recipients) the hub queues in one event loop tick before sessions with
    /// more input wait for the next one: bounds the work one read can cause, so timers, other sockets and
    /// the history writer always get their turn.
    public var fanOutBytesPerTick = 1024 * 1024
    /// Raises that budget in a big room to this much per client in it: every tick ends with one write per
    /// recipient whatever it carries, so at 20 000 clients a 1 MiB budget let one 40-byte line through per
    /// tick and the server made one system call per delivery (9 µs each, 0.1 M deliveries/s). 2 KiB (about
    /// 50 short lines) a recipient keeps a tick's queuing work below its flush's. 0: the fixed budget only.
    public var fanOutBytesPerRecipient = 2 * 1024
    /// Most nicknames `/who` lists before summarising the rest.
    public var maximumWhoNames = 100
    /// Public lines replayed to a newcomer after its welcome (and the MOTD), from the database, in `/history`'s
    /// form and followed by `* end of history` (`--history-on-join`); 0: none.
    public var historyOnJoin = 10
    /// `/oper` over plain TCP from a non-loopback address (`--allow-plain-oper`); off: only TLS, Unix sockets
    /// and loopback, where the password is not sent in the clear.
    public var allowPlainOper = false
    /// How often the hub asks the database whether bans, mutes, the MOTD or registrations changed (one
    /// one-row read): a change made on another server, or directly in the database, holds here within this
    /// plus one read.
    public var moderationPollInterval: TimeAmount = .milliseconds(500)
    /// How long a client that takes a registered nickname without identifying keeps it before it is renamed
    /// to its guest name (`--identify-grace`, 1 s to 1 day; whole seconds in what the client is told).
    public var identifyGrace: TimeAmount = .seconds(60)

    public init() {}
}
