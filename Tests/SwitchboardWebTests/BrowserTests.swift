import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardChat
import SwitchboardDatabase
import SwitchboardHistory
import SwitchboardProtocol
import SwitchboardTestSupport
import XCTest

@testable import SwitchboardWeb

/// The page and the dashboard in a real headless Chromium (WebDriver): browsers and telnet clients chat,
/// hostile text stays text, the page comes back after a restart, and the dashboard draws what the history
/// holds. With `SWITCHBOARD_UPDATE_SCREENSHOTS=1` the chat and dashboard screenshots in `docs/screenshots/`
/// are taken anew (the README shows them); otherwise they go to a temporary directory.
final class BrowserTests: XCTestCase {
    private static let shared = NIOLockedValueBox<WebDriver?>(nil)

    private func driver() async throws -> WebDriver {
        if let driver = BrowserTests.shared.withLockedValue({ $0 }) { return driver }
        let driver = try await WebDriver.start()
        BrowserTests.shared.withLockedValue { $0 = driver }
        return driver
    }

    override class func tearDown() {
        shared.withLockedValue { $0?.stop(); $0 = nil }
        super.tearDown()
    }

    private func browser(
        width: Int = 1100, height: Int = 760, acceptingSelfSignedCertificates: Bool = false
    ) async throws -> WebDriver.Browser {
        let browser = try await driver().openBrowser(
            width: width, height: height, acceptInsecureCertificates: acceptingSelfSignedCertificates)
        addTeardownBlock { await browser.close() }
        return browser
    }

    private func telnet(_ server: WebTestServer) async throws -> RawHTTPClient {
        let client = try await RawHTTPClient.connect(port: server.chatPort)
        _ = try await client.waitFor("Welcome")
        return client
    }

    /// Opens the chat page and waits for its welcome.
    private func join(_ browser: WebDriver.Browser, _ server: WebTestServer) async throws {
        try await browser.open("http://127.0.0.1:\(server.webPort)/")
        try await browser.waitUntil("the welcome", """
            return document.body.dataset.state === 'connected' &&
                Array.from(document.querySelectorAll('#log li')).some(li => li.textContent.startsWith('* Welcome'));
            """)
    }

    private func members(_ browser: WebDriver.Browser) async throws -> [String] {
        (try await browser.run("return Array.from(document.querySelectorAll('#members li')).map(li => li.textContent);")
            as? [String]) ?? []
    }

    static var screenshotDirectory: URL {
        if ProcessInfo.processInfo.environment["SWITCHBOARD_UPDATE_SCREENSHOTS"] == "1" {
            return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("docs/screenshots")
        }
        return FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-screenshots")
    }

    private func save(_ png: Data, as name: String) throws {
        let directory = BrowserTests.screenshotDirectory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try png.write(to: directory.appendingPathComponent(name))
    }

    /// Two browsers and a telnet client chat; each sees the others' lines in the order they were said, and
    /// the members list follows joins, renames and leaves. The chat screenshot is taken here.
    func testTwoBrowsersAndATelnetClientChatInOrder() async throws {
        let server = try await WebTestServer.start(for: self)
        let alice = try await browser()
        let bob = try await browser()
        try await join(alice, server)
        try await alice.type("/nick alice\u{E007}", into: "#say")
        try await join(bob, server)
        try await bob.type("/nick bob\u{E007}", into: "#say")
        let carol = try await telnet(server)
        try await carol.send("/nick carol\r\n")
        try await alice.waitUntil("three members", """
            const names = Array.from(document.querySelectorAll('#members li')).map(li => li.textContent);
            return names.length === 3 && names.includes('carol') && names.includes('bob');
            """)
        let aliceMembers = try await members(alice)
        XCTAssertEqual(aliceMembers, ["alice (you)", "bob", "carol"])

        try await alice.type("hello from alice\u{E007}", into: "#say")
        _ = try await carol.waitFor("<alice> hello from alice")
        try await bob.type("hi alice, bob here\u{E007}", into: "#say")
        _ = try await carol.waitFor("<bob> hi alice, bob here")
        try await carol.send("carol on telnet\r\n")
        try await alice.type("/me waves\u{E007}", into: "#say")
        _ = try await carol.waitFor("* alice waves")
        try await bob.waitUntil("carol's line", "return document.getElementById('log').textContent.includes('* alice waves');")
        try await alice.waitUntil("carol's line", "return document.getElementById('log').textContent.includes('<carol> carol on telnet');")

        func said(_ lines: [String]) -> [String] {
            lines.filter { $0.hasPrefix("<") || $0.hasPrefix("* alice waves") }
        }
        let expected = ["<alice> hello from alice", "<bob> hi alice, bob here", "<carol> carol on telnet", "* alice waves"]
        let aliceSaw = said(try await alice.logLines())
        let bobSaw = said(try await bob.logLines())
        XCTAssertEqual(aliceSaw, expected.filter { $0 != "* alice waves" }, "alice's page (her own /me is not echoed)")
        XCTAssertEqual(bobSaw, expected, "bob's page")

        // The command history: ↑ brings back the last line sent.
        try await alice.type("\u{E013}", into: "#say")
        let recalled = try await alice.run("return document.getElementById('say').value;") as? String
        XCTAssertEqual(recalled, "/me waves")
        try await alice.run("document.getElementById('say').value = '';")

        try await save(alice.screenshot(), as: "chat.png")

        try await carol.send("/quit\r\n")
        try await bob.waitUntil("carol gone", """
            return !Array.from(document.querySelectorAll('#members li')).some(li => li.textContent === 'carol');
            """)
        let bobMembers = try await members(bob)
        XCTAssertEqual(bobMembers, ["alice", "bob (you)"])
        let count = try await bob.run("return document.getElementById('count').textContent;") as? String
        XCTAssertEqual(count, "2 clients connected")
    }

    /// Someone joining from a phone sees the recent history first (marked as history, without the page's own
    /// `/who` and `/history` bookkeeping), the count and the members; the page fits a 390-pixel screen without
    /// scrolling sideways, with the message box on screen; and it works from the keyboard alone: the box has
    /// the focus once connected, Enter sends, and Tab moves on to the Send button.
    func testALateJoinerOnAPhoneSeesRecentHistoryAndChatsFromTheKeyboard() async throws {
        let server = try await WebTestServer.start(for: self)
        let carol = try await telnet(server)
        try await carol.send("/nick carol\r\n")
        _ = try await carol.waitFor("* guest1 is now known as carol")
        try await carol.send("said before you came\r\n")
        try await carol.send("/me waited\r\n")
        // Both lines are stored once /history shows them.
        try await carol.send("/history 2\r\n")
        _ = try await carol.waitFor("* carol waited")
        _ = try await carol.waitFor("* end of history")

        let phone = try await browser(width: 390, height: 844)
        try await join(phone, server)
        try await phone.waitUntil("the recent history", """
            return Array.from(document.querySelectorAll('#log li.history')).some(li => li.textContent.endsWith('* carol waited'));
            """)
        let history = try await phone.run("return Array.from(document.querySelectorAll('#log li.history')).map(li => li.textContent);") as? [String]
        XCTAssertEqual(history?.count, 2, "\(history ?? [])")
        XCTAssertTrue(history?.first?.hasSuffix("<carol> said before you came") == true, "\(history ?? [])")
        let lines = try await phone.logLines()
        XCTAssertFalse(lines.contains("* end of history"), "the page's own /history ends quietly: \(lines)")
        XCTAssertFalse(lines.contains { $0.hasPrefix("* 2 connected:") }, "the page's own /who is not shown: \(lines)")
        try await phone.waitUntil("two members", "return document.querySelectorAll('#members li').length === 2;")
        let count = try await phone.run("return document.getElementById('count').textContent;") as? String
        XCTAssertEqual(count, "2 clients connected")

        // Phone width: nothing wider than the screen; the message box and the members on it.
        let fits = try await phone.run("""
            const box = document.getElementById('say').getBoundingClientRect();
            const members = document.getElementById('members').getBoundingClientRect();
            return document.documentElement.scrollWidth <= window.innerWidth && box.left >= 0 &&
                box.right <= window.innerWidth && box.bottom <= window.innerHeight && members.top >= 0 &&
                members.bottom <= window.innerHeight;
            """) as? Bool
        XCTAssertEqual(fits, true)

        // The keyboard alone: the focus is in the box, keys go there, Enter sends, Tab moves on.
        let focused = try await phone.run("return document.activeElement && document.activeElement.id;") as? String
        XCTAssertEqual(focused, "say")
        try await phone.press("typed on a phone\u{E007}")
        _ = try await carol.waitFor("<guest2> typed on a phone")
        try await phone.press("\u{E004}")
        let next = try await phone.run("return document.activeElement && document.activeElement.id;") as? String
        XCTAssertEqual(next, "send", "Tab leaves the box for the Send button")
        let live = try await phone.run("return document.getElementById('log').getAttribute('aria-live');") as? String
        XCTAssertEqual(live, "polite", "screen readers hear new lines")
        await carol.close()
    }

    /// `--web ssl:…`: the page over HTTPS joins the chat over `wss:` (the page picks the scheme from its own
    /// address), with the certificate the server loaded and reloads like the chat's own `ssl:` endpoints.
    func testThePageOverHTTPSChatsOverSecureWebSocket() async throws {
        let directory = try makeTemporaryDirectory()
        let certificate = try TestCertificate.make(in: directory)
        let files = TLSFiles(privateKey: certificate.keyPath, certificate: certificate.certificatePath)
        let server = try await WebTestServer.start(for: self) { _ in } configureWeb: {
            $0.endpoints = [.ssl(host: "127.0.0.1", port: 0, backlog: Endpoint.defaultBacklog, files: files)]
        }
        let page = try await browser(acceptingSelfSignedCertificates: true)
        try await page.open("https://127.0.0.1:\(server.webPort)/")
        try await page.waitUntil("the welcome over wss:", """
            return document.body.dataset.state === 'connected' &&
                Array.from(document.querySelectorAll('#log li')).some(li => li.textContent.startsWith('* Welcome'));
            """)
        let scheme = try await page.run("return location.protocol;") as? String
        XCTAssertEqual(scheme, "https:")
        let telnet = try await telnet(server)
        try await page.press("over TLS\u{E007}")
        _ = try await telnet.waitFor("<guest1> over TLS")
        try await telnet.send("and back\r\n")
        try await page.waitUntil("the telnet line", "return document.getElementById('log').textContent.includes('<guest2> and back');")
        let peers = try await server.server.snapshot()?.chat.connected["websocket"]
        XCTAssertEqual(peers, 1)
        await telnet.close()
    }

    /// A telnet client's markup, script end tags and ANSI escapes reach the page as text: no element made,
    /// no script run, no dialog opened.
    func testHostileTextFromTelnetAppearsAsTextAndNothingRuns() async throws {
        let server = try await WebTestServer.start(for: self)
        let page = try await browser()
        try await join(page, server)
        let mallory = try await telnet(server)
        let attempts = [
            "<img src=x onerror=alert(1)>",
            "</script><script>window.pwned = 1; alert(2)</script>",
            "<svg onload=alert(3)></svg><b>bold</b>",
            "\u{1B}[31mred\u{1B}[0m \u{1B}]0;title\u{07}after",
        ]
        for line in attempts { try await mallory.send(line + "\r\n") }
        try await mallory.send("done\r\n")
        try await page.waitUntil("the last line", "return document.getElementById('log').textContent.includes('> done');")
        let lines = try await page.logLines()
        XCTAssertTrue(lines.contains("<guest2> <img src=x onerror=alert(1)>"), "\(lines)")
        XCTAssertTrue(lines.contains("<guest2> </script><script>window.pwned = 1; alert(2)</script>"), "\(lines)")
        XCTAssertTrue(lines.contains("<guest2> <svg onload=alert(3)></svg><b>bold</b>"), "\(lines)")
        XCTAssertTrue(lines.contains("<guest2> red after"), "escapes are stripped by the server: \(lines)")
        let made = try await page.run("""
            return document.querySelectorAll('#log img, #log script, #log svg, #log b').length;
            """) as? Int
        XCTAssertEqual(made, 0, "no element came from the text")
        let pwned = try await page.run("return typeof window.pwned;") as? String
        XCTAssertEqual(pwned, "undefined")
        let hasAlert = await page.hasAlert()
        XCTAssertFalse(hasAlert)
        let title = try await page.run("return document.title;") as? String
        XCTAssertEqual(title, "Switchboard chat")
        await mallory.close()
    }

    /// The page comes back by itself when the server restarts on the same port.
    func testThePageReconnectsAfterAServerRestart() async throws {
        let database = try TestDatabases.sqlite()
        addTeardownBlock { database.drop() }
        let first = try await WebTestServer.start(database: database.url, for: self)
        let page = try await browser()
        try await join(page, first)
        await first.stop()
        try await page.waitUntil("the disconnect", "return document.body.dataset.state === 'disconnected';")
        let status = try await page.run("return document.getElementById('status').textContent;") as? String
        XCTAssertTrue(status?.hasPrefix("Disconnected") == true, status ?? "")
        let second = try await WebTestServer.start(database: database.url, webPort: first.webPort, for: self)
        try await page.waitUntil("the second welcome", timeout: .seconds(30), """
            return document.body.dataset.state === 'connected' &&
                Array.from(document.querySelectorAll('#log li')).filter(li => li.textContent.startsWith('* Welcome')).length === 2;
            """)
        let telnet = try await telnet(second)
        try await telnet.send("after the restart\r\n")
        try await page.waitUntil("a line after the restart", "return document.getElementById('log').textContent.includes('after the restart');")
        await telnet.close()
    }

    /// The dashboard draws the seeded history: each bar and cell carries the number the history holds, and
    /// the bars' heights follow the numbers. The dashboard screenshot is taken here.
    func testTheDashboardDrawsTheSeededHistory() async throws {
        let database = try TestDatabases.sqlite()
        addTeardownBlock { database.drop() }
        let now = Timestamp.now()
        let day: Int64 = 86_400
        var expectedVisits = Array(repeating: Int64(0), count: 30)
        var expectedLines = Array(repeating: Int64(0), count: 30)
        do {
            let connection = try DatabasePool.connector(for: database.url)()
            _ = try HistoryRepository(dialect: .sqlite).migrate(on: connection)
            let seed = StatsSeed(connection: connection, dialect: .sqlite)
            let today = now.microsecondsSinceEpoch / 1_000_000 / day * day
            var rng = SplitMix64(seed: 25)
            for daysAgo in 0..<30 {
                let visits = Int(rng.next() % 6)
                let dayStart = Timestamp(microsecondsSinceEpoch: (today - Int64(daysAgo) * day) * 1_000_000)
                for visit in 0..<visits {
                    // Spread over the day, never later than now.
                    let offset = min(Int64(visit) * 3_000 + 60, max(0, now.microsecondsSinceEpoch / 1_000_000 - (today - Int64(daysAgo) * day) - 1))
                    let at = dayStart.adding(seconds: offset)
                    // Each stays a while (up to now), so the last 24 hours have a shape.
                    let stay = max(1, min(Int64(visit + 1) * 2_400, now.microsecondsSinceEpoch / 1_000_000 - (at.microsecondsSinceEpoch / 1_000_000) - 1))
                    let id = try seed.connection("v\(daysAgo)x\(visit)", at: at, until: at.adding(seconds: stay), reason: "quit")
                    expectedVisits[29 - daysAgo] += 1
                    for _ in 0..<(visit + 1) {
                        try seed.line(by: id, "v\(daysAgo)x\(visit)", at: at)
                        expectedLines[29 - daysAgo] += 1
                    }
                }
            }
        }
        let server = try await WebTestServer.start(database: database.url, for: self) { _ in } configureWeb: {
            $0.statsCacheLifetime = .zero
        }
        let page = try await browser(height: 1240)
        try await page.open("http://127.0.0.1:\(server.webPort)/stats")
        try await page.waitUntil("the charts", "return !!document.body.dataset.generatedAt && document.querySelectorAll('#chart-visits rect.bar').length === 30;")

        let visits = try await page.run("return Array.from(document.querySelectorAll('#chart-visits rect.bar')).map(r => Number(r.dataset.value));") as? [Int]
        XCTAssertEqual(visits?.map(Int64.init), expectedVisits)
        let lines = try await page.run("return Array.from(document.querySelectorAll('#chart-lines rect.bar')).map(r => Number(r.dataset.value));") as? [Int]
        XCTAssertEqual(lines?.map(Int64.init), expectedLines)
        // Heights follow the values: the tallest bar is the largest value, and each is in proportion.
        let proportional = try await page.run("""
            const bars = Array.from(document.querySelectorAll('#chart-lines rect.bar'));
            const max = Math.max(...bars.map(b => Number(b.dataset.value)));
            const top = Math.max(...bars.map(b => Number(b.getAttribute('height'))));
            return bars.every(b => Math.abs(Number(b.getAttribute('height')) - top * Number(b.dataset.value) / max) < 0.05);
            """) as? Bool
        XCTAssertEqual(proportional, true)
        let hoursTotal = try await page.run("return Array.from(document.querySelectorAll('#chart-hours rect')).reduce((s, r) => s + Number(r.dataset.value), 0);") as? Int
        let lastFourWeeks = expectedLines.suffix(28).reduce(0, +)
        XCTAssertEqual(hoursTotal.map(Int64.init), lastFourWeeks)
        let minutes = try await page.run("return document.querySelectorAll('#chart-minutes rect.bar').length;") as? Int
        XCTAssertEqual(minutes, 1440)
        var connected = try await page.run("return document.getElementById('connected-now').textContent;") as? String
        XCTAssertEqual(connected, "0")
        // Someone joins: the page shows the live count at its next reading (here: reloaded).
        let watcher = try await telnet(server)
        try await page.open("http://127.0.0.1:\(server.webPort)/stats")
        try await page.waitUntil("the live count", "return document.getElementById('connected-now').textContent === '1';")
        connected = try await page.run("return document.getElementById('connected-now').textContent;") as? String
        XCTAssertEqual(connected, "1")
        try await save(page.screenshot(), as: "dashboard.png")
        await watcher.close()
    }
}
