import Foundation
import Logging
import NIOCore
import SwitchboardChat
import SwitchboardDatabase

/// Answers `/api/stats`: the history's numbers (``StatsQueries``) read on the database pool at most once per
/// ``WebConfiguration/statsCacheLifetime``, plus the two live numbers from the hub at each request.
///
/// ```
///  request ─▶ fresh reading?  yes ─▶ answer from it
///                             stale ─▶ answer from it, and start one read (if none is running)
///                             none ─▶ wait for the one read in flight (started if need be)
/// ```
/// So 100 browsers refreshing at once cost one read, and once a reading exists no request waits for the
/// database: a slow database makes the numbers older (`generated_at` says how old), never the page slower.
///
/// Ownership: created and used on the hub's event loop only.
final class StatsService {
    private let hub: ChatHub
    private let pool: DatabasePool
    private let queries: StatsQueries
    private let lifetime: TimeAmount
    private let logger: Logger
    private let clock: @Sendable () -> Timestamp

    /// The last reading, as JSON (an object), and when it was taken.
    private var reading: (json: ByteBuffer, at: NIODeadline)?
    private var inFlight: EventLoopFuture<ByteBuffer>?
    /// Reads of the history started so far (tests check the cache with it).
    private(set) var reads = 0

    init(
        hub: ChatHub, pool: DatabasePool, lifetime: TimeAmount, logger: Logger,
        clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }
    ) {
        self.hub = hub
        self.pool = pool
        self.queries = StatsQueries(dialect: pool.url.dialect)
        self.lifetime = lifetime
        self.logger = logger
        self.clock = clock
    }

    private var eventLoop: any EventLoop { hub.eventLoop }

    /// The whole `/api/stats` body. On the hub's loop.
    func current() -> EventLoopFuture<ByteBuffer> {
        if let reading {
            if eventLoop.now - reading.at >= lifetime { _ = refresh() }
            return eventLoop.makeSucceededFuture(withLiveNumbers(reading.json))
        }
        return refresh().assumeIsolated().map { self.withLiveNumbers($0) }.nonisolated()
    }

    /// The one read in flight, started if none is.
    private func refresh() -> EventLoopFuture<ByteBuffer> {
        if let inFlight { return inFlight }
        reads += 1
        let queries = self.queries
        let now = clock()
        let read = pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try queries.read(now: now, on: connection)
        }.flatMapThrowing { snapshot -> ByteBuffer in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return ByteBuffer(bytes: try encoder.encode(snapshot))
        }
        inFlight = read
        read.assumeIsolated().whenComplete { result in
            self.inFlight = nil
            switch result {
            case .success(let json): self.reading = (json, self.eventLoop.now)
            case .failure(let error): self.logger.warning("could not read the dashboard's numbers", metadata: ["error": "\(error)"])
            }
        }
        return read
    }

    /// `{"connected_now":N,"visits_total":T,` followed by the reading's own fields.
    private func withLiveNumbers(_ json: ByteBuffer) -> ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(json.readableBytes + 64)
        body.writeString("{\"connected_now\":\(hub.connectedCount),\"visits_total\":\(hub.totalVisits),")
        body.writeImmutableBuffer(json.getSlice(at: json.readerIndex + 1, length: json.readableBytes - 1) ?? ByteBuffer())
        return body
    }
}

@available(*, unavailable)
extension StatsService: Sendable {}
