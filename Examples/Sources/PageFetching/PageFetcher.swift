import AsyncHTTPClient
import NIOCore
import SwitchboardProtocol

/// Fetches one page with AsyncHTTPClient, bounded in time and size: the examples' `getPage`.
///
/// - ``fetch(_:on:)`` does not block: it returns at once, and the page comes as a future on the caller's loop
///   (Twisted's Deferred). The proxy uses it.
/// - ``fetchBlocking(_:)`` waits for the page: the blocking call the caching proxy runs on a thread pool, the
///   `deferToThread` way. It traps on an event loop thread in debug builds (``BlockingCallGuard``).
///
/// Bounds (``Limits``): the whole fetch (connecting, redirects, the answer) must finish within `timeout`, and
/// the page may have at most `maximumPageBytes` (a larger `Content-Length` is refused before its body is read; a
/// body without one is cut off when it passes the limit), so a client gets an answer or an error in bounded
/// time and memory. Redirects are followed (at most 5, no cycles) to `http:`/`https:` URLs only; a redirect
/// elsewhere comes back as ``FetchError/status(code:reason:)``. Only `2xx` answers are pages.
///
/// Threading: a value; use it from any thread. It does not own the client: whoever made the `HTTPClient` shuts it
/// down.
public struct PageFetcher: Sendable {
    /// How long a fetch may take and how large a page may be.
    public struct Limits: Sendable, Equatable {
        public var timeout: TimeAmount
        public var maximumPageBytes: Int

        /// 10 seconds and 1 MiB.
        public static let standard = Limits(timeout: .seconds(10), maximumPageBytes: 1024 * 1024)

        public init(timeout: TimeAmount, maximumPageBytes: Int) {
            precondition(maximumPageBytes >= 0 && maximumPageBytes <= Int(UInt32.max), "a ByteBuffer holds up to 4 GiB")
            self.timeout = timeout
            self.maximumPageBytes = maximumPageBytes
        }
    }

    public let client: HTTPClient
    public let limits: Limits

    public init(client: HTTPClient, limits: Limits = .standard) {
        self.client = client
        self.limits = limits
    }

    /// Starts fetching `url`; the page (the body of a `2xx` answer) or a ``FetchError`` arrives on `loop`.
    /// Call from any thread.
    public func fetch(_ url: PageURL, on loop: any EventLoop) -> PageFetch {
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: url.text)
        } catch {
            return PageFetch(page: loop.makeFailedFuture(FetchError(from: error, limits: limits)), task: nil)
        }
        let limits = self.limits
        let task = client.execute(
            request: request,
            delegate: ResponseAccumulator(request: request, maxBodySize: limits.maximumPageBytes),
            eventLoop: .indifferent,
            deadline: .now() + limits.timeout)
        let page = task.futureResult.hop(to: loop).flatMapThrowing { response -> ByteBuffer in
            guard (200..<300).contains(response.status.code) else { throw FetchError.status(response.status) }
            return response.body ?? ByteBuffer()
        }.flatMapErrorThrowing { error in
            throw FetchError(from: error, limits: limits)
        }
        return PageFetch(page: page, task: task)
    }

    /// Fetches `url` and waits for it: a blocking call, for a thread pool (never an event loop: the wait would
    /// stop every connection on it, so debug builds trap there).
    public func fetchBlocking(_ url: PageURL) throws(FetchError) -> ByteBuffer {
        BlockingCallGuard.check("PageFetcher.fetchBlocking")
        do {
            return try fetch(url, on: client.eventLoopGroup.next()).page.wait()
        } catch {
            throw FetchError(from: error, limits: limits)
        }
    }
}

extension HTTPClient.Configuration {
    /// The proxies' client: redirects followed (at most 5, no cycles), connecting bounded by the fetch's own
    /// deadline (``PageFetcher/Limits/timeout``) rather than a separate timeout.
    public static var examples: HTTPClient.Configuration {
        HTTPClient.Configuration(redirectConfiguration: .follow(max: 5, allowCycles: false))
    }
}
