import AsyncHTTPClient
import NIOCore

/// A fetch in progress (``PageFetcher/fetch(_:on:)``): the page to come, and a way to stop it.
public struct PageFetch: Sendable {
    /// The page, or a ``FetchError``, on the loop the fetch was started for.
    public let page: EventLoopFuture<ByteBuffer>
    let task: HTTPClient.Task<HTTPClient.Response>?

    /// A page that comes from elsewhere (a cache, a fetch shared with other clients): ``cancel()`` does nothing.
    public init(page: EventLoopFuture<ByteBuffer>) {
        self.init(page: page, task: nil)
    }

    init(page: EventLoopFuture<ByteBuffer>, task: HTTPClient.Task<HTTPClient.Response>?) {
        self.page = page
        self.task = task
    }

    /// Stops the fetch (its client left): the connection to the web server is closed and ``page`` fails with
    /// ``FetchError/cancelled`` unless it has completed already. Call from any thread.
    public func cancel() {
        task?.cancel()
    }
}
