import Foundation
import NIOCore
import SwitchboardWeb
import XCTest

/// The web listener over real sockets: what it serves, with which headers, and every malformed, oversized,
/// slow or smuggling request refused with the right status, the connection closed where the stream is in
/// doubt.
final class WebHardeningTests: XCTestCase {
    private func get(_ path: String, from server: WebTestServer, extra: String = "") async throws -> RawHTTPClient.Response {
        let client = try await RawHTTPClient.connect(port: server.webPort)
        defer { Task { await client.close() } }
        try await client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(server.webPort)\r\n\(extra)\r\n")
        return try await client.responses(1)[0]
    }

    /// The page is the embedded HTML with a strict CSP and no inline script; every file has its type and the
    /// security headers.
    func testThePageAndItsFilesAreServedWithTheSecurityHeaders() async throws {
        let server = try await WebTestServer.start(for: self) { $0.chat.maximumLineLength = 300 }
        let page = try await get("/", from: server)
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.header("Content-Type"), "text/html; charset=utf-8")
        let csp = try XCTUnwrap(page.header("Content-Security-Policy"))
        XCTAssertTrue(csp.hasPrefix("default-src 'self';"), csp)
        XCTAssertFalse(csp.contains("unsafe-inline"), csp)
        XCTAssertFalse(csp.contains("unsafe-eval"), csp)
        XCTAssertEqual(page.header("X-Content-Type-Options"), "nosniff")
        XCTAssertEqual(page.header("X-Frame-Options"), "DENY")
        XCTAssertEqual(page.header("Referrer-Policy"), "no-referrer")
        XCTAssertTrue(page.body.contains("data-max-line=\"300\""), "the page knows --max-line")
        // Every script is a file of its own: no inline script for the CSP to have to allow.
        let scripts = page.body.components(separatedBy: "<script").dropFirst()
        XCTAssertFalse(scripts.isEmpty)
        for script in scripts {
            XCTAssertTrue(script.hasPrefix(" src=\"/"), "inline script: \(script.prefix(60))")
            XCTAssertTrue(script.contains("></script>"), "a script element with content")
        }
        XCTAssertFalse(page.body.contains(" style=\""), "no inline style attributes either")
        for (path, type) in [
            ("/chat.js", "text/javascript; charset=utf-8"), ("/stats.js", "text/javascript; charset=utf-8"),
            ("/style.css", "text/css; charset=utf-8"), ("/stats", "text/html; charset=utf-8"),
        ] {
            let response = try await get(path, from: server)
            XCTAssertEqual(response.status, 200, path)
            XCTAssertEqual(response.header("Content-Type"), type, path)
            XCTAssertEqual(response.header("X-Content-Type-Options"), "nosniff", path)
            XCTAssertNotNil(response.header("Content-Security-Policy"), path)
            XCTAssertFalse(response.body.isEmpty, path)
        }
    }

    /// No path reaches a file: the files are embedded and matched exactly, so traversal in any spelling is 404
    /// (or 400 where the target is not a path at all).
    func testPathTraversalInAnySpellingFindsNothing() async throws {
        let server = try await WebTestServer.start(for: self)
        let attempts = [
            "/../Package.swift", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E%2FPackage.swift",
            "//etc/passwd", "/Assets/index.html", "/chat.js/../../Package.swift", "/./chat.js", "/..%5c..%5cetc/passwd",
            "/index.html", "/%63hat.js", "/chat.js%00.html", "/.git/config", "/..;/Package.swift",
        ]
        for path in attempts {
            let response = try await get(path, from: server)
            XCTAssertEqual(response.status, 404, path)
            XCTAssertFalse(response.body.contains("root:"), path)
            XCTAssertFalse(response.body.contains("PackageDescription"), path)
            XCTAssertNotNil(response.header("Content-Security-Policy"), "errors carry the headers too: \(path)")
        }
        // A target that is not a path (absolute form, asterisk) is refused outright.
        for target in ["http://127.0.0.1/etc/passwd", "*"] {
            let client = try await RawHTTPClient.connect(port: server.webPort)
            try await client.send("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
            let (responses, _) = try await client.untilClosed()
            XCTAssertEqual(responses.map(\.status), [400], target)
        }
    }

    /// A request head over 8 KiB, or with more than 64 fields, is 431 and the connection closes; memory
    /// stays bounded (the decoder stops at the limit).
    func testOversizedHeadersAre431() async throws {
        let server = try await WebTestServer.start(for: self)
        let big = String(repeating: "a", count: 9 * 1024)
        let client = try await RawHTTPClient.connect(port: server.webPort)
        try await client.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n")
        var (responses, _) = try await client.untilClosed()
        XCTAssertEqual(responses.map(\.status), [431])

        let many = (0..<100).map { "X-Field-\($0): 1\r\n" }.joined()
        let second = try await RawHTTPClient.connect(port: server.webPort)
        try await second.send("GET / HTTP/1.1\r\nHost: x\r\n\(many)\r\n")
        (responses, _) = try await second.untilClosed()
        XCTAssertEqual(responses.map(\.status), [431])

        // A long target counts against the same limit.
        let third = try await RawHTTPClient.connect(port: server.webPort)
        try await third.send("GET /\(big) HTTP/1.1\r\nHost: x\r\n\r\n")
        (responses, _) = try await third.untilClosed()
        XCTAssertEqual(responses.map(\.status), [431])

        // An endless head never ends: the limit cuts it off without waiting for its end.
        let fourth = try await RawHTTPClient.connect(port: server.webPort)
        try await fourth.send("GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        for _ in 0..<4 { try? await fourth.send(String(repeating: "b", count: 4096)) }
        (responses, _) = try await fourth.untilClosed()
        XCTAssertEqual(responses.map(\.status), [431])
    }

    /// A head that does not arrive within the header timeout (sent in part, or not at all) gets 408 and the
    /// connection closes; the bound is the configured timeout (0.3 s here; the assertion allows 10 s).
    func testSlowHeadersAre408AndClosed() async throws {
        let server = try await WebTestServer.start(for: self) { _ in } configureWeb: { $0.headerTimeout = .milliseconds(300) }
        // The server's deadline starts at its accept, which can come before `connect` returns here: the clock
        // starts before the connect, or a close right on time measures as a little early.
        let started = NIODeadline.now()
        let partial = try await RawHTTPClient.connect(port: server.webPort)
        try await partial.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        let (responses, _) = try await partial.untilClosed(timeout: .seconds(10))
        XCTAssertEqual(responses.map(\.status), [408])
        XCTAssertGreaterThanOrEqual(NIODeadline.now() - started, .milliseconds(300), "not before the timeout")

        let silent = try await RawHTTPClient.connect(port: server.webPort)
        let (silentResponses, _) = try await silent.untilClosed(timeout: .seconds(10))
        XCTAssertEqual(silentResponses.map(\.status), [408])

        // Keep-alive: after a response, the next head has the timeout again.
        let idle = try await RawHTTPClient.connect(port: server.webPort)
        try await idle.send("GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        let (idleResponses, _) = try await idle.untilClosed(timeout: .seconds(10))
        XCTAssertEqual(idleResponses.map(\.status), [200, 408])
    }

    /// Request smuggling shapes: a body is never accepted (so it can never be read as the next request), and
    /// the ambiguous framings are refused; each is one 400 and a closed connection.
    func testRequestSmugglingAttemptsAreRefusedAndTheConnectionCloses() async throws {
        let server = try await WebTestServer.start(for: self)
        let attempts = [
            // CL.TE and TE.CL: both framings at once.
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
            "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\nZ\r\n0\r\n\r\n",
            // Two lengths that disagree.
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n",
            // A body hiding a second request.
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n\r\nGET /stats HTTP/1.1\r\nHost: x\r\n\r\n",
            // Chunked, or an obfuscated Transfer-Encoding.
            "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n22\r\nGET /stats HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
            // No Host, or two.
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            // A header folded over two lines (obs-fold), a bare CR in a value.
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\rGET /stats HTTP/1.1\r\n\r\n",
        ]
        for attempt in attempts {
            let client = try await RawHTTPClient.connect(port: server.webPort)
            try await client.send(attempt)
            let (responses, raw) = try await client.untilClosed()
            XCTAssertEqual(responses.map(\.status), [400], "\(attempt.debugDescription) → \(raw.prefix(200))")
        }
    }

    /// Other methods are 405 with `Allow`, and the connection stays for the next request; `HEAD` gets the
    /// headers without the body.
    func testMethodsOtherThanGetAndHeadAre405AndHeadHasNoBody() async throws {
        let server = try await WebTestServer.start(for: self)
        let client = try await RawHTTPClient.connect(port: server.webPort)
        try await client.send("DELETE / HTTP/1.1\r\nHost: x\r\n\r\nGET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        let responses = try await client.responses(2)
        XCTAssertEqual(responses.map(\.status), [405, 200])
        XCTAssertEqual(responses[0].header("Allow"), "GET, HEAD")
        await client.close()

        let head = try await RawHTTPClient.connect(port: server.webPort)
        try await head.send("HEAD /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let (_, raw) = try await head.untilClosed()
        let parts = raw.components(separatedBy: "\r\n\r\n")
        XCTAssertTrue(parts[0].hasPrefix("HTTP/1.1 200 OK"), raw)
        XCTAssertTrue(parts[0].lowercased().contains("content-length: "), raw)
        XCTAssertEqual(parts.dropFirst().joined(), "", "HEAD carries no body")
    }

    /// Pipelined requests are answered in the order sent, on one connection.
    func testPipelinedRequestsAreAnsweredInOrder() async throws {
        let server = try await WebTestServer.start(for: self)
        let client = try await RawHTTPClient.connect(port: server.webPort)
        let paths = ["/style.css", "/nope", "/chat.js", "/stats", "/"]
        try await client.send(paths.map { "GET \($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined())
        let responses = try await client.responses(paths.count)
        XCTAssertEqual(responses.map(\.status), [200, 404, 200, 200, 200])
        XCTAssertEqual(responses.map { $0.header("Content-Type") ?? "" }, [
            "text/css; charset=utf-8", "text/plain; charset=utf-8", "text/javascript; charset=utf-8",
            "text/html; charset=utf-8", "text/html; charset=utf-8",
        ])
    }

    /// Past the HTTP connection limit a newcomer gets 503 at once; those in keep working.
    func testConnectionsBeyondTheLimitGet503() async throws {
        let server = try await WebTestServer.start(for: self) { _ in } configureWeb: { $0.maximumHTTPConnections = 2 }
        var held: [RawHTTPClient] = []
        for _ in 0..<2 {
            let client = try await RawHTTPClient.connect(port: server.webPort)
            try await client.send("GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
            let statuses = try await client.responses(1).map(\.status)
            XCTAssertEqual(statuses, [200])  // accepted and counted
            held.append(client)
        }
        let third = try await RawHTTPClient.connect(port: server.webPort)
        let (responses, _) = try await third.untilClosed()
        XCTAssertEqual(responses.map(\.status), [503])
        // One leaves: there is room again.
        await held.removeFirst().close()
        // The close reaches the server's loop a moment later: until then a newcomer still gets 503, and the
        // server may have closed it before its request is even written (so a failed send is a retry too).
        var status = 0
        let deadline = NIODeadline.now() + .seconds(10)
        while status != 200 && NIODeadline.now() < deadline {
            let client = try await RawHTTPClient.connect(port: server.webPort)
            try? await client.send("GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status = try await client.untilClosed().responses.first?.status ?? 0
        }
        XCTAssertEqual(status, 200)
        for client in held { await client.close() }
    }

    /// `/chat` that is not a WebSocket upgrade is 426, and from a foreign origin 403.
    func testChatWithoutAnUpgradeIs426AndFromAnotherOrigin403() async throws {
        let server = try await WebTestServer.start(for: self)
        let plain = try await get("/chat", from: server)
        XCTAssertEqual(plain.status, 426)
        XCTAssertEqual(plain.header("Upgrade"), "websocket")
        let foreign = try await get("/chat", from: server, extra: "Origin: https://evil.example\r\n")
        XCTAssertEqual(foreign.status, 403)
    }
}
