import Logging
import NIOCore
import NIOEmbedded
import SwitchboardHistory
import XCTest

@testable import SwitchboardChat

/// A client with no channel: it records what the hub calls on it, in order. The hub knows clients only as
/// ``ChatClient``, so this is all it takes to drive it (Twisted words' tests do the same with `IChatClient`).
private final class RecordingClient: ChatClient {
    private(set) var id: ConnectionKey?
    let peer: String
    let address: String?
    let transport = ChatTransport.telnet
    let frontDoor = FrontDoor.none
    let isAdminConsole = false
    let acceptedAt: NIODeadline
    let lastActivity: NIODeadline
    /// What the hub called, in order: `admitted`, `joining`, `refuse: LINE`, `send: LINE`, `drain`,
    /// `close: REASON`, `flush` (after a `deliver: LINE` for each broadcast line its outbox held), `closeNow`,
    /// `relieved`.
    private(set) var calls: [String] = []
    /// Began to close before its welcome (so it declines ``joining(_:)``).
    var closesBeforeWelcome = false
    private let hub: () -> ChatHub

    init(address: String, now: NIODeadline, hub: @escaping () -> ChatHub) {
        self.peer = "\(address):4000"
        self.address = address
        self.acceptedAt = now
        self.lastActivity = now
        self.hub = hub
    }

    func refuse(_ refusal: Roster.Refusal) { calls.append("refuse: \(refusal.line)") }
    func admitted(_ id: ConnectionKey) {
        self.id = id
        calls.append("admitted")
    }
    func joining(_ id: ConnectionKey) -> Bool {
        calls.append("joining")
        return !closesBeforeWelcome
    }
    func send(_ line: String) { calls.append("send: \(line)") }
    /// Where the hub's broadcasts land; read back at ``flush(tick:)``, as a session hands them to its channel.
    let outbox = ClientOutbox()
    func reply(_ lines: EventLoopFuture<[String]>, unavailable: String) {
        lines.assumeIsolated().whenSuccess { [self] in for line in $0 { calls.append("send: \(line)") } }
    }
    func flush(tick: TickLines) -> Bool {
        var delivered = ""
        outbox.output.take(sharing: tick) { delivered += String(buffer: $0) }
        for line in delivered.split(separator: "\r\n", omittingEmptySubsequences: true) { calls.append("deliver: \(line)") }
        calls.append("flush")
        return true
    }
    func closeNow() { calls.append("closeNow") }
    func relieved() { calls.append("relieved") }
    func drain() { calls.append("drain") }
    @discardableResult
    func close(reason: String, shownAs shown: String?) -> EventLoopFuture<Void> {
        calls.append("close: \(reason)")
        hub().tick.scheduleClose(self)
        return hub().eventLoop.makeSucceededVoidFuture()
    }
    func closeWhenAnswered(reason: String, shownAs shown: String) { close(reason: reason, shownAs: shown) }

    /// What it was sent or delivered, in order (the lines a person would see).
    var lines: [String] {
        calls.compactMap { call in
            for prefix in ["send: ", "deliver: ", "refuse: "] where call.hasPrefix(prefix) { return String(call.dropFirst(prefix.count)) }
            return nil
        }
    }
}

/// The hub's side of the one-way contract: ``ChatHub/connect(_:)`` admits, records, waits (bounded) and
/// welcomes or refuses, calling only ``ChatClient``.
final class ChatClientContractTests: XCTestCase {
    private let loop = EmbeddedEventLoop()
    private var history: InMemoryChatHistory!
    private var hub: ChatHub!

    override func setUp() {
        history = InMemoryChatHistory(loop: loop)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = ChatConfiguration()
        configuration.maximumClients = 2
        hub = ChatHub(eventLoop: loop, history: history, configuration: configuration, logger: logger)
    }

    private func client(_ address: String) -> RecordingClient {
        RecordingClient(address: address, now: loop.now) { [unowned self] in self.hub }
    }

    func testConnectAdmitsRecordsWelcomesThenLetsTheClientBeRead() {
        let ada = client("192.0.2.1")
        hub.connect(ada)
        loop.run()
        XCTAssertEqual(Array(ada.calls.prefix(3)), ["admitted", "joining", "send: " + ChatText.welcome(nickname: "guest1", connected: 1, visitor: 1)])
        XCTAssertTrue(ada.calls.contains("drain"), "input is read only after the welcome: \(ada.calls)")
        XCTAssertLessThan(ada.calls.firstIndex(of: "send: " + ChatText.welcome(nickname: "guest1", connected: 1, visitor: 1))!, ada.calls.firstIndex(of: "drain")!)
        XCTAssertEqual(history.opened.count, 1, "its row is recorded")
        XCTAssertEqual(hub.connectedCount, 1)
    }

    func testOthersAreToldOfAJoinThroughDeliver() {
        let ada = client("192.0.2.1")
        hub.connect(ada)
        loop.run()
        let bob = client("192.0.2.2")
        hub.connect(bob)
        loop.run()
        XCTAssertTrue(ada.lines.contains(ChatText.joined("guest2", connected: 2)), "\(ada.calls)")
        XCTAssertFalse(bob.lines.contains(ChatText.joined("guest2", connected: 2)), "nobody is told of their own join")
        XCTAssertTrue(ada.calls.contains("flush"), "the end of the tick flushes who was delivered to")
    }

    func testAFullServerRefusesAndRecordsTheRefusal() {
        let first = client("192.0.2.1"), second = client("192.0.2.2"), third = client("192.0.2.3")
        for each in [first, second, third] { hub.connect(each) }
        loop.run()
        XCTAssertEqual(third.calls, ["refuse: " + ChatText.serverFull], "refused before anything else")
        XCTAssertNil(third.id)
        XCTAssertEqual(history.refused.map(\.reason), ["refused: server full"])
        XCTAssertEqual(hub.connectedCount, 2)
    }

    func testAClientClosingBeforeItsWelcomeIsNotJoinedOrAnnounced() {
        let ada = client("192.0.2.1")
        hub.connect(ada)
        loop.run()
        let late = client("192.0.2.2")
        late.closesBeforeWelcome = true
        hub.connect(late)
        loop.run()
        XCTAssertEqual(late.calls, ["admitted", "joining"], "declined: no welcome, no input read")
        XCTAssertEqual(hub.connectedCount, 1)
        XCTAssertFalse(ada.lines.contains { $0.contains("guest2") }, "nobody is told of a client that never joined")
    }

    func testABroadcastReachesEveryJoinedClientButTheSender() {
        let clients = (1...2).map { client("192.0.2.\($0)") }
        for each in clients { hub.connect(each) }
        loop.run()
        hub.broadcast("<guest1> hello", except: clients[0])
        hub.flushAndClose()  // the end of the tick: what each outbox holds is handed over
        XCTAssertFalse(clients[0].lines.contains("<guest1> hello"))
        XCTAssertEqual(clients[1].lines.last, "<guest1> hello")
    }
}
