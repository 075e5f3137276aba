import NIOCore
import NIOEmbedded
import SwitchboardDatabase
import SwitchboardModeration
import XCTest
@testable import SwitchboardChat

/// The hub's moderation rules without sockets: `/oper` only where the password is private, wrong passwords
/// throttled per connection and per address (without reaching the store), operator commands refused to
/// others, bans from a changed snapshot applied to connected clients, and `/ban` input errors.
final class ModerationHubTests: XCTestCase {
    private func harness(_ configure: (inout ChatConfiguration) -> Void = { _ in }) -> (ChatTestHarness, InMemoryModerationStore) {
        var configuration = ChatConfiguration()
        configure(&configuration)
        let harness = ChatTestHarness(configuration: configuration)
        let store = InMemoryModerationStore(loop: harness.loop)
        store.operators["root"] = ("root", "pw")
        _ = harness.hub.startModeration(store: store)
        harness.loop.run()
        return (harness, store)
    }

    /// A plain TCP client from a non-loopback address is refused before any check; loopback, a Unix socket
    /// and TLS are fine; `--allow-plain-oper` allows it.
    func testOperNeedsAPrivateTransport() throws {
        let (h, store) = harness()
        let plain = try h.connect(from: "192.0.2.50")
        _ = try plain.lines()
        try plain.send("/oper root pw\r\n")
        XCTAssertEqual(try plain.lines(), [ChatText.operNeedsPrivacy])
        XCTAssertEqual(store.passwordChecks, 0)
        let loopback = try h.connect(from: "127.0.0.1")
        _ = try loopback.lines()
        try loopback.send("/oper root pw\r\n")
        XCTAssertEqual(try loopback.lines().last, "* you are now an operator (root); /help lists your commands")
        let tls = try h.connect(from: "192.0.2.51", frontDoor: FrontDoor(proxyHeader: false, tls: true))
        tls.channel.pipeline.fireUserInboundEventTriggered(FrontDoorOpened(client: nil))
        h.loop.run()
        _ = try tls.lines()
        try tls.send("/oper root pw\r\n")
        XCTAssertEqual(try tls.lines().last, "* you are now an operator (root); /help lists your commands")

        let (allowing, _) = harness { $0.allowPlainOper = true }
        let allowed = try allowing.connect(from: "192.0.2.52")
        _ = try allowed.lines()
        try allowed.send("/oper root pw\r\n")
        XCTAssertEqual(try allowed.lines(), ["* you are now an operator (root); /help lists your commands"])
    }

    /// 3 wrong passwords a minute per connection; then refused without a check until the minute is over.
    /// 10 in 10 minutes per address, over any number of connections.
    func testWrongPasswordsAreThrottled() throws {
        let (h, store) = harness { $0.allowPlainOper = true }
        let guesser = try h.connect(from: "192.0.2.60")
        _ = try guesser.lines()
        for attempt in 1...3 {
            try guesser.send("/oper root guess\(attempt)\r\n")
            XCTAssertEqual(try guesser.lines(), [ChatText.operFailed])
        }
        try guesser.send("/oper root pw\r\n")
        XCTAssertEqual(try guesser.lines(), ["! too many wrong passwords: try again in 60 s"])
        XCTAssertEqual(store.passwordChecks, 3, "the throttled attempt never reached the store")
        h.loop.advanceTime(by: .seconds(61))
        try guesser.send("/oper root pw\r\n")
        XCTAssertEqual(try guesser.lines(), ["* you are now an operator (root); /help lists your commands"])

        // Many connections from one address: 10 checks, then none for 10 minutes.
        var checksBefore = store.passwordChecks
        for _ in 0..<5 {
            let client = try h.connect(from: "192.0.2.61")
            _ = try client.lines()
            for _ in 0..<3 { try client.send("/oper root nope\r\n") }
            _ = try client.lines()
        }
        XCTAssertEqual(store.passwordChecks - checksBefore, 10)
        checksBefore = store.passwordChecks
        let late = try h.connect(from: "192.0.2.61")
        _ = try late.lines()
        try late.send("/oper root pw\r\n")
        XCTAssertTrue(try late.lines().first?.hasPrefix("! too many wrong passwords: try again in ") == true)
        XCTAssertEqual(store.passwordChecks, checksBefore)
        let elsewhere = try h.connect(from: "192.0.2.62")
        _ = try elsewhere.lines()
        try elsewhere.send("/oper root pw\r\n")
        XCTAssertEqual(try elsewhere.lines(), ["* you are now an operator (root); /help lists your commands"], "another address is not throttled")
    }

    /// Operator commands from a non-operator: one clear line each, nothing done, nothing logged.
    func testOperatorCommandsAreRefusedToOthers() throws {
        let (h, store) = harness()
        let alice = try h.join()
        let bob = try h.join([alice])
        for command in ["kick guest1", "ban guest1", "unban 10.0.0.1", "bans", "mute guest1", "unmute guest1",
                        "announce hi", "motd set hi", "op guest2", "deop guest1"] {
            try bob.send("/\(command)\r\n")
            let name = String(command.prefix { $0 != " " })
            XCTAssertEqual(try bob.lines(), ["! /\(name) is for operators (see /oper)"], command)
        }
        XCTAssertTrue(try alice.lines().isEmpty)
        XCTAssertTrue(store.log.isEmpty)
        XCTAssertEqual(store.state.bans.count, 0)
    }

    /// A ban that arrives in a new snapshot (set on another server, or in SQL) closes the matching client
    /// with the ban's line; others see it leave; a later connection from that address is refused.
    func testBansFromANewSnapshotApplyToConnectedClients() throws {
        let (h, store) = harness()
        let alice = try h.connect(from: "192.0.2.70")
        _ = try alice.lines()
        let mallory = try h.connect(from: "198.51.100.9")
        _ = try mallory.lines()
        _ = try alice.lines()
        store.state.bans.insert(Ban(
            target: try BanTarget(parsingAddress: "198.51.100.0/24"), reason: "spam", setBy: "root", setAt: .now(), expiresAt: nil))
        store.state.version += 1
        h.loop.advanceTime(by: h.hub.configuration.moderationPollInterval)
        XCTAssertEqual(try mallory.lines(), ["! you are banned (spam, permanent)"])
        XCTAssertFalse(mallory.isActive)
        XCTAssertEqual(try alice.lines(), ["* guest2 left (banned: spam) (1 client connected)"])
        let again = try h.connect(from: "198.51.100.10")
        XCTAssertEqual(try again.lines(), ["! you are banned (spam, permanent)"])
        XCTAssertEqual(h.history.refused.last?.reason, "refused: banned")
    }

    /// A client that takes a registered nickname without identifying is renamed to its guest name after
    /// 60 s (not before); one that identifies within the grace keeps it.
    func testAnUnidentifiedHolderIsRenamedAfterTheGrace() throws {
        let (h, store) = harness()
        store.nicknames["alice"] = "pw"
        store.state.registeredNicknames = ["alice"]
        store.state.version += 1
        h.loop.advanceTime(by: h.hub.configuration.moderationPollInterval)
        let mallory = try h.join()
        try mallory.send("/nick alice\r\n")
        XCTAssertEqual(try mallory.lines(), [
            "* guest1 is now known as alice", "! alice is registered: /identify PASSWORD within 60 s, or you will be renamed",
        ])
        h.loop.advanceTime(by: .seconds(59))
        XCTAssertEqual(try mallory.lines(), [])
        h.loop.advanceTime(by: .seconds(1))
        XCTAssertEqual(try mallory.lines(), [
            "! alice is registered and you did not identify: you are now guest1", "* alice is now known as guest1",
        ])

        let bob = try h.join([mallory])
        try bob.send("/nick alice\r\n/identify pw\r\n")
        XCTAssertEqual(try bob.lines().last, "* you are identified as alice")
        h.loop.advanceTime(by: .seconds(61))
        XCTAssertEqual(try bob.lines(), [], "identified within the grace: the name stays")
        try bob.send("/who\r\n")
        XCTAssertEqual(try bob.lines(), ["* 2 connected: alice (identified), guest1"])
    }

    /// Reasons, texts and nicknames with control, escape and bidi characters: stripped before anyone sees
    /// them (the session sanitises every line before it is parsed), so an operator cannot paint the kicked
    /// client's terminal either; a nickname target with such characters is refused, not matched.
    func testControlAndBidiCharactersNeverReachAnyone() throws {
        let (h, store) = harness { $0.allowPlainOper = true }
        let op = try h.join()
        let target = try h.join([op])
        try op.send("/oper root pw\r\n")
        _ = try op.lines()
        try op.send("/kick guest2 \u{1b}[2Jspam\u{202E}mer\u{7}\r\n")
        XCTAssertEqual(try target.lines(), ["! kicked by root (spammer)"])
        try op.send("/ban gu\u{200B}est9\r\n/mute \u{202E}guest1\r\n")
        let answers = try op.lines()
        XCTAssertTrue(answers.contains("* guest2 left (kicked: spammer) (1 client connected)"), "\(answers)")
        XCTAssertTrue(answers.contains("! no such nick: guest9 (ban an address or CIDR, or add --nick to ban the name)"), "\(answers)")
        XCTAssertEqual(store.state.bans.count, 0, "nothing banned by accident")
        XCTAssertTrue(store.log.allSatisfy { !$0.reason.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x202E } })
    }
}
