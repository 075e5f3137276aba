import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Prometheus
import SwitchboardChat
import SwitchboardDatabase
import SwitchboardProtocol

/// The Prometheus endpoint (`--metrics`): `GET /metrics` in the text exposition format, from a
/// swift-prometheus registry fed by ``SwitchboardMetrics`` (swift-metrics' API with the registry's factory —
/// ``DescribedPrometheusFactory`` — injected; the process-wide `MetricsSystem` is never bootstrapped). Each scrape first reads the server's
/// counts (``ChatServer/snapshot()``), so the numbers are as of the scrape.
///
/// The same guarded HTTP handling as the web listener (limits, timeouts, methods); only `/metrics` is served.
/// Thread-safety: `start`/`stop` from any task.
public final class MetricsServer: ChatServerAttachment {
    public let endpoints: [Endpoint]
    public let registry: PrometheusCollectorRegistry
    private let state = NIOLockedValueBox(State())

    private struct State {
        var listener: HTTPListener?
        var addresses: [SocketAddress] = []
        var metrics: SwitchboardMetrics?
    }

    /// An endpoint set serving `registry` (a fresh one by default; tests pass their own to read it back).
    public init(endpoints: [Endpoint], registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.endpoints = endpoints
        self.registry = registry
    }

    /// The certificate files of the `ssl:` endpoints (the server loads and reloads them).
    public var certificateFiles: [TLSFiles] { endpoints.compactMap(\.tlsFiles) }

    /// The bound addresses, once started.
    public var addresses: [SocketAddress] { state.withLockedValue { $0.addresses } }

    public func start(_ runtime: ChatServerRuntime) async throws {
        let factory = DescribedPrometheusFactory(registry: registry, descriptions: SwitchboardMetrics.descriptions)
        let metrics = SwitchboardMetrics(factory: factory, version: SwitchboardVersion.current)
        try await runtime.server.observeHistoryBatches { duration, _, _ in metrics.recordHistoryBatch(duration) }
        let server = runtime.server
        let registry = self.registry
        let routes = MetricsRoutes(scrape: { eventLoop in
            let promise = eventLoop.makePromise(of: ByteBuffer.self)
            promise.completeWithTask {
                if let snapshot = try await server.snapshot() { metrics.update(from: snapshot) }
                var bytes: [UInt8] = []
                registry.emit(into: &bytes)
                return ByteBuffer(bytes: bytes)
            }
            return promise.futureResult
        })
        var configuration = WebConfiguration()
        configuration.maximumHTTPConnections = 64
        let listener = HTTPListener(
            eventLoop: runtime.eventLoop, configuration: configuration, routes: routes, logger: runtime.logger)
        state.withLockedValue {
            $0.listener = listener
            $0.metrics = metrics
        }
        let addresses = try await listener.start(endpoints, certificates: runtime.certificates)
        state.withLockedValue { $0.addresses = addresses }
        for (endpoint, address) in zip(endpoints, addresses) {
            runtime.logger.notice(
                "serving metrics", metadata: ["endpoint": "\(endpoint)", "address": "\(address.ipAddress.map { "\($0):\(address.port ?? 0)" } ?? address.pathname ?? "?")"])
        }
    }

    public func stop() async {
        await state.withLockedValue { $0.listener }?.stop()
    }
}

/// `/metrics` and nothing else.
struct MetricsRoutes: WebRoutes {
    let scrape: @Sendable (any EventLoop) -> EventLoopFuture<ByteBuffer>

    func respond(to head: HTTPRequestHead, path: String, on eventLoop: any EventLoop) -> WebReply {
        guard path == "/metrics" else { return .now(.text(.notFound, "the metrics are at /metrics")) }
        return .later(scrape(eventLoop).map { body in
            WebResponse(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: body)
        })
    }
}
