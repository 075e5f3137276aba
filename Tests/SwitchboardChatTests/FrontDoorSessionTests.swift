import NIOCore
import NIOEmbedded
import SwitchboardChat
import XCTest

/// A ``ChatSession`` behind a front door (a TLS handshake, a PROXY header), driven with `EmbeddedChannel`s:
/// the connection counts against the limits from its accept, gets its row and welcome only once
/// ``FrontDoorOpened`` arrives, is withdrawn without a trace if it never gets through, and behind a proxy is
/// known (and limited) by the address the header names.
final class FrontDoorSessionTests: XCTestCase {
    private let tls = FrontDoor(proxyHeader: false, tls: true)
    private let proxy = FrontDoor(proxyHeader: true, tls: false)

    private func open(_ client: ChatTestHarness.Client, as address: String? = nil, port: Int = 50_000) throws {
        let source = try address.map { try SocketAddress(ipAddress: $0, port: port) }
        client.channel.pipeline.fireUserInboundEventTriggered(FrontDoorOpened(client: source))
        client.channel.embeddedEventLoop.run()
    }

    /// At the door a connection holds a place (a newcomer finds the server full) but is not welcomed, not
    /// counted as connected, not recorded, and sent nothing; once through, it is welcomed like anyone.
    func testAtTheDoorAConnectionHoldsAPlaceButIsNeitherWelcomedNorRecorded() throws {
        var configuration = ChatConfiguration()
        configuration.maximumClients = 2
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let waiting = try chat.connect(frontDoor: tls)
        XCTAssertEqual(try waiting.lines(), [])
        XCTAssertEqual(chat.history.opened.count, 1)
        XCTAssertEqual(try alice.lines(), [])
        let late = try chat.connect()
        XCTAssertEqual(try late.lines(), ["! server full"])

        try open(waiting)
        XCTAssertEqual(try waiting.lines().first?.hasPrefix("* Welcome, guest"), true)
        XCTAssertEqual(chat.history.opened.count, 2)
        XCTAssertEqual(try alice.lines().last?.hasSuffix("joined (2 clients connected)"), true)
    }

    /// A connection that never gets through (the handshake failed, the client left) leaves no row, no leave
    /// notice and no visit behind, and its place is free again.
    func testAConnectionThatNeverGetsThroughIsWithdrawnWithoutATrace() throws {
        var configuration = ChatConfiguration()
        configuration.maximumClients = 2
        let chat = ChatTestHarness(configuration: configuration)
        let alice = try chat.join()
        let waiting = try chat.connect(frontDoor: tls)
        try waiting.channel.close().wait()
        chat.loop.run()
        XCTAssertEqual(try alice.lines(), [])
        XCTAssertTrue(chat.history.closed.isEmpty)
        XCTAssertTrue(chat.history.refused.isEmpty)
        XCTAssertEqual(chat.hub.totalVisits, 1)
        let bob = try chat.connect()
        XCTAssertEqual(try bob.lines().first?.hasPrefix("* Welcome, guest"), true)
    }

    /// Behind a proxy the PROXY header's client is the peer recorded and shown, and the per-address limit
    /// counts it (not the proxy, whose own address many clients share): a second client from the same
    /// address is refused once its header is read, and that refusal is recorded with its address.
    func testBehindAProxyTheHeadersClientIsThePeerAndIsLimitedPerAddress() throws {
        var configuration = ChatConfiguration()
        configuration.maximumClientsPerAddress = 1
        let chat = ChatTestHarness(configuration: configuration)
        let first = try chat.connect(from: "192.0.2.200", frontDoor: proxy)
        let second = try chat.connect(from: "192.0.2.200", frontDoor: proxy)
        let other = try chat.connect(from: "192.0.2.200", frontDoor: proxy)
        try open(first, as: "203.0.113.5", port: 1111)
        XCTAssertEqual(try first.lines().first?.hasPrefix("* Welcome, guest"), true)
        XCTAssertEqual(Array(chat.history.openedPeers.values), ["203.0.113.5:1111"])

        try open(second, as: "203.0.113.5", port: 2222)
        XCTAssertEqual(try second.lines(), ["! too many connections from your address"])
        XCTAssertFalse(second.isActive)
        XCTAssertEqual(chat.history.refused.map(\.peer), ["203.0.113.5:2222"])

        try open(other, as: "2001:db8::7", port: 3333)
        XCTAssertEqual(try other.lines().first?.hasPrefix("* Welcome, guest"), true)
        XCTAssertTrue(chat.history.openedPeers.values.contains("[2001:db8::7]:3333"))
        XCTAssertEqual(chat.hub.totalVisits, 2)
    }

    /// A header that names no client (`PROXY UNKNOWN`, v2 `LOCAL`) keeps the connection's own address as its
    /// peer, and no per-address count applies.
    func testAHeaderWithoutAClientKeepsTheConnectionsAddress() throws {
        var configuration = ChatConfiguration()
        configuration.maximumClientsPerAddress = 1
        let chat = ChatTestHarness(configuration: configuration)
        let first = try chat.connect(from: "192.0.2.200", frontDoor: proxy)
        let second = try chat.connect(from: "192.0.2.200", frontDoor: proxy)
        try open(first)
        try open(second)
        XCTAssertEqual(try first.lines().first?.hasPrefix("* Welcome, guest"), true)
        XCTAssertEqual(try second.lines().first?.hasPrefix("* Welcome, guest"), true)
        XCTAssertTrue(chat.history.openedPeers.values.allSatisfy { $0.hasPrefix("192.0.2.200:") })
    }

    /// A connection refused at the door (the server is full) is told why once it is through — where a TLS
    /// client can read it — and recorded then, with its own address.
    func testARefusalAtTheDoorIsToldAndRecordedOnceThrough() throws {
        var configuration = ChatConfiguration()
        configuration.maximumClients = 1
        let chat = ChatTestHarness(configuration: configuration)
        _ = try chat.join()
        let refused = try chat.connect(from: "192.0.2.200", frontDoor: proxy)
        XCTAssertEqual(try refused.lines(), [])
        XCTAssertTrue(chat.history.refused.isEmpty)
        try open(refused, as: "198.51.100.4", port: 4444)
        XCTAssertEqual(try refused.lines(), ["! server full"])
        XCTAssertEqual(chat.history.refused.map(\.peer), ["198.51.100.4:4444"])
        XCTAssertEqual(chat.history.refused.map(\.reason), ["refused: server full"])
    }
}
