import ArgumentParser
import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import PageFetching
import SwitchboardProtocol

/// The factory's state in `caching-proxy`: pages by URL, and the fetches in flight. In Twisted:
///
/// ```python
/// class CachingProxyFactory(Factory):
///     def getPage(self, url):
///         if url in self.cache:
///             return succeed(self.cache[url])
///         if url not in self.pending:
///             d = threads.deferToThread(fetch, url)      # a blocking fetch, on the reactor's thread pool
///             d.addCallback(self.remember, url)          # only a success is remembered
///             self.pending[url] = d
///         return self.pending[url]
/// ```
/// - A cached page is an already-succeeded future (Twisted's `succeed`).
/// - Every request for a URL whose fetch is in flight gets that fetch's future: one fetch however many ask.
/// - The fetch is ``PageFetcher/fetchBlocking(_:)``, a blocking call, run on the thread pool with
///   `NIOThreadPool.runIfActive(eventLoop:)`, which hands the result back to this loop as a future
///   (`deferToThread`). The loop never waits; debug builds trap if the blocking call is made on it.
/// - Errors are not cached: the next request fetches again.
/// - Bounded: at most ``Limits/maximumPages`` pages and ``Limits/maximumBytes`` bytes; the least recently used
///   page goes first, and a page larger than the whole budget is served but not kept. Pages stay until pushed
///   out (no expiry: this is the tutorial's cache, not HTTP's).
///
/// Ownership: one event loop (the listener's and every connection's, like Twisted's one reactor) owns all of
/// it; it is only used there (`NIOLoopBoundBox` checks). The pool's threads only run the fetch.
final class PageCache {
    struct Limits: Sendable {
        var maximumPages = 100
        var maximumBytes = 16 * 1024 * 1024
    }

    /// What the cache did, for tests and logs.
    struct Statistics: Equatable, Sendable {
        var fetches = 0
        var sharedFetches = 0
        var cacheHits = 0
    }

    private let loop: any EventLoop
    private let pool: NIOThreadPool
    private let fetcher: PageFetcher
    private let limits: Limits
    private var pages: [String: (page: ByteBuffer, lastUsed: UInt64)] = [:]
    private var pageBytes = 0
    private var clock: UInt64 = 0
    private var inFlight: [String: EventLoopFuture<ByteBuffer>] = [:]
    private(set) var statistics = Statistics()

    init(loop: any EventLoop, pool: NIOThreadPool, fetcher: PageFetcher, limits: Limits = Limits()) {
        self.loop = loop
        self.pool = pool
        self.fetcher = fetcher
        self.limits = limits
    }

    /// The page for `url`: from the cache, from the fetch in flight, or from a new fetch on the pool.
    func page(for url: PageURL) -> EventLoopFuture<ByteBuffer> {
        clock += 1
        let key = url.text
        if let cached = pages[key] {
            pages[key]!.lastUsed = clock
            statistics.cacheHits += 1
            return loop.makeSucceededFuture(cached.page)
        }
        if let shared = inFlight[key] {
            statistics.sharedFetches += 1
            return shared
        }
        statistics.fetches += 1
        let fetcher = self.fetcher
        let fetch = pool.runIfActive(eventLoop: loop) { try fetcher.fetchBlocking(url) }
        inFlight[key] = fetch
        fetch.assumeIsolated().whenComplete { result in
            self.inFlight[key] = nil
            if case .success(let page) = result { self.keep(page, for: key) }
        }
        return fetch
    }

    private func keep(_ page: ByteBuffer, for key: String) {
        guard limits.maximumPages > 0, page.readableBytes <= limits.maximumBytes else { return }
        while pages.count >= limits.maximumPages || pageBytes + page.readableBytes > limits.maximumBytes {
            // A linear scan: a hundred pages at most, and only when one is added.
            guard let oldest = pages.min(by: { $0.value.lastUsed < $1.value.lastUsed }) else { break }
            pages[oldest.key] = nil
            pageBytes -= oldest.value.page.readableBytes
        }
        pages[key] = (page, clock)
        pageBytes += page.readableBytes
    }
}

/// `caching-proxy --listen tcp:8004`: the proxy, with the fetch in a thread pool and a shared, bounded cache.
@main
struct CachingProxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetches the URL a client sends in a thread pool, caches the page and shares fetches in flight.")

    @Option(help: "Where to listen: tcp:PORT[:interface=ADDR] or unix:PATH. Anyone who can connect can make this host fetch URLs.")
    var listen = "tcp:8004:interface=127.0.0.1"

    /// Threads for blocking fetches: this many pages are fetched at once, the rest wait their turn.
    static let poolThreads = 4

    /// The factory, on the cache's loop: the listener and every connection share it.
    static func bootstrap(cache: NIOLoopBoundBox<PageCache>) -> ServerBootstrap {
        ServerBootstrap(group: cache.eventLoop).childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let pages = cache.value  // traps if not on the cache's loop
                try PageRequestHandler.configure(channel) { url in PageFetch(page: pages.page(for: url)) }
            }
        }
    }

    func run() async throws {
        let logger = Logger(label: "caching-proxy")
        let endpoint: Endpoint
        do { endpoint = try Endpoint(parsing: listen) } catch { throw ValidationError("\(error)") }
        let group = MultiThreadedEventLoopGroup.singletonMultiThreadedEventLoopGroup
        let client = HTTPClient(eventLoopGroup: group, configuration: .examples)
        let pool = NIOThreadPool(numberOfThreads: CachingProxy.poolThreads)
        pool.start()
        let loop = group.next()
        let cache = NIOLoopBoundBox.makeBoxSendingValue(
            PageCache(loop: loop, pool: pool, fetcher: PageFetcher(client: client)), eventLoop: loop)
        let listener: any Channel
        do {
            listener = try await CachingProxy.bootstrap(cache: cache).bind(to: endpoint).get()
        } catch {
            logger.error("cannot listen on \(endpoint): \(error)")
            try await pool.shutdownGracefully()
            try await client.shutdown()
            throw ExitCode.failure
        }
        logger.info("listening on \(endpoint)")
        try await listener.closeFuture.get()
        try await pool.shutdownGracefully()
        try await client.shutdown()
    }
}
