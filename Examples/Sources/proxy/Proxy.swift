import ArgumentParser
import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import PageFetching
import SwitchboardProtocol

/// `proxy --listen tcp:8003`: a client sends a URL, gets the page, and the connection closes.
///
/// Each connection fetches its own page with AsyncHTTPClient, without blocking the event loop: the fetch is a
/// future that completes on the connection's loop (Twisted's `getPage(url)` returning a Deferred). A client that
/// leaves before its page arrives cancels the fetch.
@main
struct Proxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fetches the URL a client sends and returns the page.")

    @Option(help: "Where to listen: tcp:PORT[:interface=ADDR] or unix:PATH. Anyone who can connect can make this host fetch URLs.")
    var listen = "tcp:8003:interface=127.0.0.1"

    /// The factory: each connection gets the telnet framing and a `PageRequestHandler` whose pages are fetched
    /// for it alone.
    static func bootstrap(group: any EventLoopGroup, fetcher: PageFetcher) -> ServerBootstrap {
        ServerBootstrap(group: group).childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let loop = channel.eventLoop
                try PageRequestHandler.configure(channel) { url in fetcher.fetch(url, on: loop) }
            }
        }
    }

    func run() async throws {
        let logger = Logger(label: "proxy")
        let endpoint: Endpoint
        do { endpoint = try Endpoint(parsing: listen) } catch { throw ValidationError("\(error)") }
        let group = MultiThreadedEventLoopGroup.singletonMultiThreadedEventLoopGroup
        let client = HTTPClient(eventLoopGroup: group, configuration: .examples)
        let listener: any Channel
        do {
            listener = try await Proxy.bootstrap(group: group, fetcher: PageFetcher(client: client)).bind(to: endpoint).get()
        } catch {
            logger.error("cannot listen on \(endpoint): \(error)")
            try await client.shutdown()
            throw ExitCode.failure
        }
        logger.info("listening on \(endpoint)")
        try await listener.closeFuture.get()
        try await client.shutdown()
    }
}
