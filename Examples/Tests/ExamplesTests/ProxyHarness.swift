import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import PageFetching
import SwitchboardProtocol
import XCTest

@testable import caching_proxy
@testable import proxy

/// Which proxy a test runs against.
enum ProxyKind: String, CaseIterable {
    case proxy
    case cachingProxy = "caching-proxy"
}

/// One proxy served in-process on 127.0.0.1, port 0, with the parts it runs on (event loops, HTTP client, and for
/// the caching proxy its thread pool and cache), and the local web server it fetches from. ``shutdown()`` stops
/// them all.
final class ProxyHarness {
    let kind: ProxyKind
    let web: LocalWebServer
    private let group: MultiThreadedEventLoopGroup
    private let client: HTTPClient
    private let pool: NIOThreadPool?
    private let cache: NIOLoopBoundBox<PageCache>?
    private let listener: any Channel

    /// Test limits: a short timeout (the tests that wait for it should not wait 10 s) and a 64 KiB page limit.
    static let testLimits = PageFetcher.Limits(timeout: .seconds(1), maximumPageBytes: 64 * 1024)

    init(_ kind: ProxyKind, limits: PageFetcher.Limits = testLimits, cacheLimits: PageCache.Limits = .init()) throws {
        self.kind = kind
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        web = try LocalWebServer(group: group)
        client = HTTPClient(eventLoopGroup: group, configuration: .examples)
        let fetcher = PageFetcher(client: client, limits: limits)
        let bootstrap: ServerBootstrap
        switch kind {
        case .proxy:
            pool = nil
            cache = nil
            bootstrap = Proxy.bootstrap(group: group, fetcher: fetcher)
        case .cachingProxy:
            let pool = NIOThreadPool(numberOfThreads: CachingProxy.poolThreads)
            pool.start()
            let loop = group.next()
            let cache = NIOLoopBoundBox.makeBoxSendingValue(
                PageCache(loop: loop, pool: pool, fetcher: fetcher, limits: cacheLimits), eventLoop: loop)
            self.pool = pool
            self.cache = cache
            bootstrap = CachingProxy.bootstrap(cache: cache)
        }
        listener = try bootstrap.bind(to: Endpoint(parsing: "tcp:0:interface=127.0.0.1")).wait()
    }

    var port: Int { listener.localAddress!.port! }

    /// A client connected to the proxy.
    func connect() throws -> LineClient {
        try LineClient(port: port)
    }

    /// Sends one line on a new connection and returns everything the proxy sent before it closed.
    func ask(_ line: String, timeout: TimeInterval = 20) throws -> String {
        let client = try connect()
        client.send(line: line)
        return client.textUntilClosed(timeout: timeout)
    }

    /// The caching proxy's statistics, read on its loop.
    func statistics() throws -> PageCache.Statistics {
        let cache = try XCTUnwrap(self.cache, "statistics of a proxy without a cache")
        return try cache.eventLoop.submit { cache.value.statistics }.wait()
    }

    /// Waits until the caching proxy's statistics satisfy `predicate`, reading them every 5 ms for at most
    /// `timeout` (they live on the proxy's loop, which has nothing to wake a test with); true if they did.
    func waitForStatistics(timeout: TimeInterval = 20, _ predicate: (PageCache.Statistics) -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if predicate(try statistics()) { return true }
            guard Date() < deadline else { return false }
            usleep(5_000)
        }
    }

    func shutdown() {
        try? listener.close().wait()
        web.stop()
        try? pool?.syncShutdownGracefully()
        try? client.syncShutdown()
        try? group.syncShutdownGracefully()
    }
}
