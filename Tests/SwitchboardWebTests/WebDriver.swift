import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardTestSupport
import XCTest


/// A headless Chromium driven over the W3C WebDriver protocol (Debian's `chromium` and `chromium-driver`;
/// `scripts/test.sh` installs them): one `chromedriver` per test class run, one browser session per page.
/// Only what the browser tests need: open a page, type into an element, run a script, take a screenshot.
///
/// `@unchecked Sendable`: its only mutable part is the `Process`, which is started in ``start()`` before the
/// value is shared and afterwards only asked `isRunning` and told `terminate()` (both thread-safe).
final class WebDriver: @unchecked Sendable {
    let port: Int
    private let process: Process

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    /// Starts chromedriver on a free port and waits (bounded) until it answers; a missing driver is a skip,
    /// or a failure in strict mode.
    static func start() async throws -> WebDriver {
        let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let binary, FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            throw TestEnvironment.unavailable(
                "chromium and chromedriver are not installed (Debian's chromium and chromium-driver)", providedByTestCommand: true)
        }
        let port = try FreePort.tcp()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--port=\(port)", "--log-level=SEVERE"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let driver = WebDriver(port: port, process: process)
        let deadline = NIODeadline.now() + .seconds(30)
        while NIODeadline.now() < deadline {
            if (try? await driver.request("GET", "/status")) != nil { return driver }
            try await Task.sleep(for: .milliseconds(50))  // paces the readiness probe; the probe decides
        }
        driver.stop()
        throw WebDriverError.notReady
    }

    /// Ends chromedriver (it ignores SIGTERM) and reaps it; the browsers went with their sessions.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// A new headless browser (a session of its own, so two pages are two separate browsers).
    /// `acceptInsecureCertificates`: a test's self-signed certificate is taken (WebDriver's `acceptInsecureCerts`).
    func openBrowser(width: Int = 1100, height: Int = 760, acceptInsecureCertificates: Bool = false) async throws -> Browser {
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "acceptInsecureCerts": acceptInsecureCertificates,
                    "goog:chromeOptions": [
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--window-size=\(width),\(height)", "--force-device-scale-factor=1",
                            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                        ],
                    ],
                ]
            ]
        ]
        let value = try await request("POST", "/session", capabilities)
        guard let id = (value as? [String: Any])?["sessionId"] as? String else { throw WebDriverError.badReply("\(value ?? "nil")") }
        return Browser(driver: self, id: id)
    }

    /// One WebDriver command; returns its `value`, or throws the driver's error.
    @discardableResult
    func request(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        // Over the tests' own raw HTTP client: FoundationNetworking's URLSession fails here ("Failed writing
        // header") on plain loopback requests.
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let client = try await RawHTTPClient.connect(port: port)
        defer { Task { await client.close() } }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if body != nil { head += "Content-Type: application/json\r\n" }
        head += "Content-Length: \(payload.count)\r\n\r\n"
        try await client.send(bytes: Array(head.utf8) + Array(payload))
        let response = try await client.responses(1, timeout: .seconds(120))[0]
        let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8), options: [.fragmentsAllowed]) as? [String: Any]
        let value = json?["value"]
        guard response.status == 200 else {
            let error = (value as? [String: Any])?["error"] as? String ?? "HTTP error"
            throw WebDriverError.command(error, (value as? [String: Any])?["message"] as? String ?? "")
        }
        return value
    }

    /// One browser session.
    final class Browser: Sendable {
        let driver: WebDriver
        let id: String

        init(driver: WebDriver, id: String) {
            self.driver = driver
            self.id = id
        }

        func open(_ url: String) async throws {
            try await driver.request("POST", "/session/\(id)/url", ["url": url])
        }

        /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its result.
        @discardableResult
        func run(_ script: String, _ args: [Any] = []) async throws -> Any? {
            try await driver.request("POST", "/session/\(id)/execute/sync", ["script": script, "args": args])
        }

        /// Waits until `script` returns true (polled every 50 ms), failing after `timeout`.
        func waitUntil(_ what: String, timeout: TimeAmount = .seconds(20), _ script: String) async throws {
            let deadline = NIODeadline.now() + timeout
            while NIODeadline.now() < deadline {
                if (try await run(script)) as? Bool == true { return }
                try await Task.sleep(for: .milliseconds(50))  // paces the polling; the page's state decides
            }
            throw WebDriverError.timedOut(what)
        }

        /// Types `text` into the element `selector` as keystrokes (`\u{E007}` is Enter, `\u{E013}` ↑).
        func type(_ text: String, into selector: String) async throws {
            let found = try await driver.request("POST", "/session/\(id)/element", ["using": "css selector", "value": selector])
            guard let element = (found as? [String: Any])?.values.first as? String else { throw WebDriverError.badReply("no \(selector)") }
            try await driver.request("POST", "/session/\(id)/element/\(element)/value", ["text": text])
        }

        /// Presses `text`'s keys one after another on whatever has the focus (WebDriver's key actions: no
        /// element is clicked or focused for it). `\u{E004}` is Tab, `\u{E007}` Enter.
        func press(_ text: String) async throws {
            let keys: [[String: Any]] = text.flatMap { character -> [[String: Any]] in
                [["type": "keyDown", "value": String(character)], ["type": "keyUp", "value": String(character)]]
            }
            try await driver.request("POST", "/session/\(id)/actions", [
                "actions": [["type": "key", "id": "keyboard", "actions": keys]]
            ])
        }

        /// The text of each `#log` line, in order.
        func logLines() async throws -> [String] {
            (try await run("return Array.from(document.querySelectorAll('#log li')).map(li => li.textContent);") as? [String]) ?? []
        }

        /// Whether a JavaScript dialog (`alert`) is open.
        func hasAlert() async -> Bool {
            (try? await driver.request("GET", "/session/\(id)/alert/text")) != nil
        }

        func screenshot() async throws -> Data {
            guard let base64 = try await driver.request("GET", "/session/\(id)/screenshot") as? String,
                let data = Data(base64Encoded: base64)
            else { throw WebDriverError.badReply("screenshot") }
            return data
        }

        func close() async {
            _ = try? await driver.request("DELETE", "/session/\(id)")
        }
    }
}

enum WebDriverError: Error {
    case notReady
    case badReply(String)
    case command(String, String)
    case timedOut(String)
}
