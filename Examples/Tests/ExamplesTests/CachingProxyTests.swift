import Foundation
import NIOCore
import PageFetching
import XCTest

@testable import caching_proxy

/// `caching-proxy` on real sockets against a local web server: one fetch shared by everyone who asks while it is
/// in flight, errors not cached, a bounded cache, and a blocking fetch that never holds the event loop.
final class CachingProxyTests: XCTestCase {
    /// 50 clients asking for one URL at once cause one fetch, and all 50 get the page. The cache is off here, so
    /// only sharing the fetch in flight can explain a single hit on the web server.
    func testFiftyConcurrentRequestsShareOneFetch() throws {
        let proxy = try ProxyHarness(.cachingProxy, cacheLimits: .init(maximumPages: 0))
        defer { proxy.shutdown() }
        let url = proxy.web.url("/held/shared")
        let clients = try (0..<50).map { _ in try proxy.connect() }
        for client in clients { client.send(line: url) }
        // Every request has reached the cache before the web server answers the one fetch.
        let allArrived = try proxy.waitForStatistics { $0.fetches + $0.sharedFetches == 50 }
        XCTAssertTrue(allArrived, "not every request reached the cache: \(String(describing: try? proxy.statistics()))")
        XCTAssertEqual(proxy.web.hits("/held/shared"), 1)
        proxy.web.release("shared")
        for (index, client) in clients.enumerated() {
            XCTAssertEqual(client.textUntilClosed(), "page shared\n", "client \(index)")
        }
        XCTAssertEqual(proxy.web.hits("/held/shared"), 1)
        XCTAssertEqual(try proxy.statistics(), PageCache.Statistics(fetches: 1, sharedFetches: 49, cacheHits: 0))
    }

    /// A cached page is served again without a fetch.
    func testACachedPageIsServedWithoutAFetch() throws {
        let proxy = try ProxyHarness(.cachingProxy)
        defer { proxy.shutdown() }
        XCTAssertEqual(try proxy.ask(proxy.web.url("/page/a")), "page a\n")
        XCTAssertEqual(try proxy.ask(proxy.web.url("/page/a")), "page a\n")
        XCTAssertEqual(proxy.web.hits("/page/a"), 1)
        XCTAssertEqual(try proxy.statistics(), PageCache.Statistics(fetches: 1, sharedFetches: 0, cacheHits: 1))
    }

    /// A failed fetch is not cached: the next request for the URL fetches again (and that page is then cached).
    func testAnErrorIsNotCachedAndTheNextRequestFetchesAgain() throws {
        let proxy = try ProxyHarness(.cachingProxy)
        defer { proxy.shutdown() }
        let url = proxy.web.url("/flaky")
        XCTAssertEqual(try proxy.ask(url), "! the server answered 500 Internal Server Error\r\n")
        XCTAssertEqual(try proxy.ask(url), "page flaky\n")
        XCTAssertEqual(proxy.web.hits("/flaky"), 2)
        XCTAssertEqual(try proxy.ask(url), "page flaky\n")
        XCTAssertEqual(proxy.web.hits("/flaky"), 2)
    }

    /// At most `maximumPages` pages are kept; the least recently used one goes first.
    func testTheCacheKeepsTheMostRecentlyUsedPagesWithinItsBound() throws {
        let proxy = try ProxyHarness(.cachingProxy, cacheLimits: .init(maximumPages: 2))
        defer { proxy.shutdown() }
        for name in ["a", "b", "a", "c", "b", "c"] {  // c pushes out b (a was used since); b then pushes out a
            XCTAssertEqual(try proxy.ask(proxy.web.url("/page/\(name)")), "page \(name)\n")
        }
        XCTAssertEqual(proxy.web.snapshot.hits, ["/page/a": 1, "/page/b": 2, "/page/c": 1])
        XCTAssertEqual(try proxy.statistics().cacheHits, 2)
    }

    /// A page larger than the cache's byte budget is served, not kept.
    func testAPageLargerThanTheCacheIsServedButNotKept() throws {
        let proxy = try ProxyHarness(.cachingProxy, cacheLimits: .init(maximumBytes: 8))
        defer { proxy.shutdown() }
        XCTAssertEqual(try proxy.ask(proxy.web.url("/page/big")), "page big\n")  // 9 bytes
        XCTAssertEqual(try proxy.ask(proxy.web.url("/page/big")), "page big\n")
        XCTAssertEqual(proxy.web.hits("/page/big"), 2)
        XCTAssertEqual(try proxy.ask(proxy.web.url("/page/a")), "page a\n")  // 7 bytes: kept
        XCTAssertEqual(try proxy.ask(proxy.web.url("/page/a")), "page a\n")
        XCTAssertEqual(proxy.web.hits("/page/a"), 1)
    }

    /// While a blocking fetch waits on the pool, the proxy's one event loop goes on serving: a cached page comes
    /// back while the fetch is still held. The blocking call itself traps in debug builds if it is ever made on an
    /// event loop (`BlockingCallGuard`), which would end this test's process.
    func testTheBlockingFetchNeverHoldsTheEventLoop() throws {
        let proxy = try ProxyHarness(.cachingProxy)
        defer { proxy.shutdown() }
        XCTAssertEqual(try proxy.ask(proxy.web.url("/page/cached")), "page cached\n")

        let waiting = try proxy.connect()
        waiting.send(line: proxy.web.url("/held/slow"))
        XCTAssertTrue(proxy.web.waitUntil { $0.hits["/held/slow"] == 1 }, "the slow fetch never started")
        // A pool thread is now blocked in the fetch. Were it the loop, nothing below could be answered.
        XCTAssertEqual(try proxy.ask(proxy.web.url("/page/cached")), "page cached\n")
        let other = try proxy.connect()
        other.send(line: "not a url")
        XCTAssertEqual(other.textUntilClosed(), "! not a URL: send one like http://example.com/\r\n")

        proxy.web.release("slow")
        XCTAssertEqual(waiting.textUntilClosed(), "page slow\n")
    }

    /// A client that leaves mid-fetch (even with a reset) does not stop the shared fetch: it finishes, is cached, and the next client
    /// gets the page without another fetch.
    func testAClientLeavingMidFetchLeavesTheSharedFetchToFinish() throws {
        let proxy = try ProxyHarness(.cachingProxy)
        defer { proxy.shutdown() }
        let leaver = try proxy.connect()
        leaver.send(line: proxy.web.url("/held/a"))
        XCTAssertTrue(proxy.web.waitUntil { $0.hits["/held/a"] == 1 }, "the fetch never started")
        leaver.abort()
        proxy.web.release("a")
        // Whether this request finds the fetch still in flight or the page already cached, there is no second fetch.
        XCTAssertEqual(try proxy.ask(proxy.web.url("/held/a")), "page a\n")
        XCTAssertEqual(proxy.web.hits("/held/a"), 1)
        XCTAssertEqual(proxy.web.snapshot.closedEarly, [:], "the shared fetch was cancelled")
        XCTAssertEqual(try proxy.statistics().fetches, 1)
    }
}
