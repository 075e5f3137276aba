import Foundation
import NIOCore
import NIOPosix
import PageFetching
import XCTest

/// What both proxies promise, each test run against `proxy` and `caching-proxy` (real sockets, a local web server):
/// the page for a URL, and for every kind of bad input a clear error line or a bounded wait, then the close.
final class ProxyTests: XCTestCase {
    /// A URL's page comes back as it is, then the connection closes.
    func testThePageIsReturnedThenTheConnectionCloses() throws {
        try forEachProxy { proxy in
            XCTAssertEqual(try proxy.ask(proxy.web.url("/page/a")), "page a\n")
            XCTAssertEqual(proxy.web.hits("/page/a"), 1)
        }
    }

    /// Blank lines before the URL are skipped, and what follows the URL is ignored.
    func testBlankLinesAreSkippedAndInputAfterTheURLIgnored() throws {
        try forEachProxy { proxy in
            let client = try proxy.connect()
            client.send(line: "")
            client.send(line: "   ")
            client.send(line: "  " + proxy.web.url("/page/b") + "  ")
            client.send(line: proxy.web.url("/page/c"))
            XCTAssertEqual(client.textUntilClosed(), "page b\n")
            XCTAssertEqual(proxy.web.hits("/page/c"), 0)
        }
    }

    /// A client that sends its URL and half-closes (`printf 'URL\n' | nc -N host port`) still gets the page; one
    /// that half-closes without asking is closed.
    func testAClientThatHalfClosesAfterItsURLStillGetsThePage() throws {
        try forEachProxy { proxy in
            let asker = try proxy.connect()
            asker.send(line: proxy.web.url("/page/a"))
            asker.shutdownWrite()
            XCTAssertEqual(asker.textUntilClosed(), "page a\n")
            let silent = try proxy.connect()
            silent.shutdownWrite()
            XCTAssertEqual(silent.textUntilClosed(), "")
        }
    }

    /// A line that is not a URL with a host gets one error line, then the close.
    func testALineThatIsNotAURLGetsAnErrorLine() throws {
        try forEachProxy { proxy in
            for line in ["hello", "www.example.com", "http://", "://nothing", "http:// /"] {
                XCTAssertEqual(try proxy.ask(line), "! not a URL: send one like http://example.com/\r\n", line)
            }
        }
    }

    /// `file:`, `gopher:` and the socket-path schemes AsyncHTTPClient would fetch are refused before any fetch.
    func testFileAndGopherURLsAreRefusedWithoutAFetch() throws {
        try forEachProxy { proxy in
            XCTAssertEqual(try proxy.ask("file:///etc/passwd"), "! only http: and https: URLs are fetched, not file:\r\n")
            let gopher = proxy.web.url("/page/gopher").replacingOccurrences(of: "http:", with: "gopher:")
            XCTAssertEqual(try proxy.ask(gopher), "! only http: and https: URLs are fetched, not gopher:\r\n")
            XCTAssertEqual(try proxy.ask("http+unix://%2Ftmp%2Fx.sock/"), "! only http: and https: URLs are fetched, not http+unix:\r\n")
            XCTAssertEqual(try proxy.ask("unix:///tmp/x.sock"), "! only http: and https: URLs are fetched, not unix:\r\n")
            XCTAssertEqual(proxy.web.snapshot.hits, [:])
        }
    }

    /// A host that accepts and never answers costs the client a bounded wait (the fetch's 1 s timeout here), then
    /// an error line; the proxy drops its connection to that host.
    ///
    /// The bound asserted is 15 s, not 1 s: the issue asks for a bounded wait, and on a shared 2-core machine a
    /// timer can fire late; a proxy that waited for the host forever fails it all the same.
    func testAHostThatNeverAnswersGetsATimeoutWithinTheBound() throws {
        try forEachProxy { proxy in
            let started = Date()
            XCTAssertEqual(try proxy.ask(proxy.web.url("/silent"), timeout: 30), "! no page within 1 s\r\n")
            XCTAssertLessThan(Date().timeIntervalSince(started), 15)
            XCTAssertTrue(proxy.web.waitUntil { $0.closedEarly["/silent"] == 1 }, "the proxy kept its connection to the host")
        }
    }

    /// A 100 MB page, with its length announced or without, is refused once it passes the limit (64 KiB here),
    /// with an error line; the proxy stops reading it, so the web server never gets to write most of it.
    func testA100MBPageIsCutOffAtTheLimit() throws {
        try forEachProxy { proxy in
            for path in ["/huge", "/huge-announced"] {
                XCTAssertEqual(try proxy.ask(proxy.web.url(path)), "! the page is larger than 65536 bytes\r\n", path)
                XCTAssertTrue(proxy.web.waitUntil { $0.closedEarly[path] == 1 }, "\(path): the proxy kept reading")
            }
            let state = proxy.web.snapshot
            XCTAssertEqual(state.hugeCompleted, 0)
            // What the kernel's socket buffers took before the proxy closed: a few MB at most, never the 100 MB.
            XCTAssertLessThan(state.hugeBytesWritten, LocalWebServer.hugeSize / 4)
        }
    }

    /// An answer that is not a page (`404`, `503`) is an error line with the status, in the standard words.
    func testAnErrorStatusIsAnErrorLine() throws {
        try forEachProxy { proxy in
            XCTAssertEqual(try proxy.ask(proxy.web.url("/status/404")), "! the server answered 404 Not Found\r\n")
            XCTAssertEqual(try proxy.ask(proxy.web.url("/status/503")), "! the server answered 503 Service Unavailable\r\n")
        }
    }

    /// A redirect to a `file:` URL is not followed: the client is told of the redirect, never sent the file.
    func testARedirectToAFileURLIsNotFollowed() throws {
        try forEachProxy { proxy in
            XCTAssertEqual(try proxy.ask(proxy.web.url("/redirect-file")), "! the server answered 302 Found\r\n")
        }
    }

    /// A port nothing listens on is an error line with the system's reason (AsyncHTTPClient retries the connection
    /// until the fetch's deadline, so this takes the 1 s timeout).
    func testAPortNothingListensOnIsAnErrorLine() throws {
        try forEachProxy { proxy in
            let port = try Self.closedPort()
            XCTAssertEqual(try proxy.ask("http://127.0.0.1:\(port)/"), "! cannot fetch the page: Connection refused\r\n")
            XCTAssertEqual(
                try proxy.ask("http://localhost:\(port)/"),
                "! cannot fetch the page: cannot connect to localhost:\(port): Connection refused\r\n")
        }
    }

    /// A request line longer than the proxies' 8 KiB limit gets an error line, then the close.
    func testAnOverlongLineGetsAnErrorLine() throws {
        try forEachProxy { proxy in
            let url = proxy.web.url("/page/" + String(repeating: "x", count: 9000))
            XCTAssertEqual(try proxy.ask(url), "! line too long (max 8192 bytes)\r\n")
        }
    }

    /// `proxy`: a client whose connection is reset before its page arrives cancels the fetch (the proxy drops its
    /// connection to the web server at once), and the proxy goes on serving.
    func testAClientThatResetsMidFetchCancelsItsFetch() throws {
        // A fetch timeout far beyond the wait below: only the cancel can drop the connection in time.
        let proxy = try ProxyHarness(.proxy, limits: .init(timeout: .seconds(120), maximumPageBytes: 1024))
        defer { proxy.shutdown() }
        let leaver = try proxy.connect()
        leaver.send(line: proxy.web.url("/held/a"))
        XCTAssertTrue(proxy.web.waitUntil { $0.hits["/held/a"] == 1 }, "the fetch never started")
        leaver.abort()
        XCTAssertTrue(proxy.web.waitUntil { $0.closedEarly["/held/a"] == 1 }, "the fetch was not cancelled")
        XCTAssertEqual(try proxy.ask(proxy.web.url("/page/next")), "page next\n")
    }

    /// A client that closes before its page arrives looks like one that half-closed (both send FIN): its fetch runs
    /// to its end (bounded by the fetch's timeout and size limit), the answer goes nowhere, and the proxy goes on
    /// serving. In the caching proxy the page is then cached.
    func testAClientThatClosesMidFetchCostsOneBoundedFetch() throws {
        try forEachProxy { proxy in
            let leaver = try proxy.connect()
            leaver.send(line: proxy.web.url("/held/a"))
            XCTAssertTrue(proxy.web.waitUntil { $0.hits["/held/a"] == 1 }, "the fetch never started")
            leaver.close()
            proxy.web.release("a")
            XCTAssertEqual(try proxy.ask(proxy.web.url("/page/next")), "page next\n")
            XCTAssertEqual(try proxy.ask(proxy.web.url("/held/a")), "page a\n")
            XCTAssertEqual(proxy.web.hits("/held/a"), proxy.kind == .proxy ? 2 : 1)
        }
    }

    // MARK: - Helpers

    /// Runs `body` against each proxy in turn, each with its own harness; failures are followed by one naming
    /// the proxy they came from.
    private func forEachProxy(_ body: (ProxyHarness) throws -> Void) throws {
        for kind in ProxyKind.allCases {
            let proxy = try ProxyHarness(kind)
            defer { proxy.shutdown() }
            let failuresBefore = testRun?.totalFailureCount ?? 0
            do { try body(proxy) } catch { XCTFail("\(error)") }
            if (testRun?.totalFailureCount ?? 0) > failuresBefore {
                XCTFail("the failures above are \(kind.rawValue)'s")
            }
        }
    }

    /// A loopback port that was just free (bound, then closed): nothing listens on it.
    private static func closedPort() throws -> Int {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let channel = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress!.port!
        try channel.close().wait()
        return port
    }
}
