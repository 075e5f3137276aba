import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A web server on 127.0.0.1 for the proxy tests, started by the test (no internet), with routes that misbehave
/// on purpose. It counts the requests per path and notices connections closed before their answer was complete.
///
/// | path                | answer                                                                           |
/// |---------------------|----------------------------------------------------------------------------------|
/// | `/page/NAME`        | `200`, body `page NAME\n`                                                        |
/// | `/status/CODE`      | that status, a short body                                                        |
/// | `/flaky`            | `500` the first time, then `200` `page flaky\n`                                  |
/// | `/held/NAME`        | `200` `page NAME\n`, but only once the test calls ``release(_:)`` (then at once) |
/// | `/silent`           | nothing, ever: the connection stays open                                         |
/// | `/huge`             | `200`, 100 MB, chunked (no length announced), written as fast as the reader takes |
/// | `/huge-announced`   | the same with `Content-Length: 100000000`                                        |
/// | `/redirect-file`    | `302` to `file:///etc/passwd`                                                    |
///
/// Thread-safe: its state is guarded by one condition lock, which also wakes tests waiting for a change.
final class LocalWebServer: @unchecked Sendable {
    // @unchecked Sendable: `state` is read and written only with `condition` locked (see `update`/`waitUntil`);
    // `channel` and `port` are written in `init` only.
    struct State {
        /// Requests per path.
        var hits: [String: Int] = [:]
        /// Connections that closed before their answer was complete, per path.
        var closedEarly: [String: Int] = [:]
        /// Body bytes of `/huge*` written to sockets, all connections together.
        var hugeBytesWritten = 0
        /// `/huge*` answers written to the end.
        var hugeCompleted = 0
        fileprivate var held: [String: [@Sendable () -> Void]] = [:]
        fileprivate var released: Set<String> = []
    }

    static let hugeSize = 100_000_000

    private let condition = NSCondition()
    private var state = State()
    /// Set once, in `init`.
    private var channel: (any Channel)?
    /// The port it listens on (set once, in `init`).
    private(set) var port = 0

    init(group: any EventLoopGroup) throws {
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(WebHandler(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        self.channel = channel
        port = channel.localAddress!.port!
    }

    /// `http://127.0.0.1:PORT/path`.
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    func stop() {
        try? channel?.close().wait()
    }

    /// A copy of the state, now.
    var snapshot: State {
        condition.lock()
        defer { condition.unlock() }
        return state
    }

    func hits(_ path: String) -> Int { snapshot.hits[path] ?? 0 }

    /// Waits until `predicate` holds for the state (true), or `timeout` passes (false). Woken by every change.
    @discardableResult
    func waitUntil(timeout: TimeInterval = 20, _ predicate: (State) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !predicate(state) {
            guard condition.wait(until: deadline) else { return predicate(state) }
        }
        return true
    }

    /// Answers every `/held/NAME` request waiting, and every later one at once.
    func release(_ name: String) {
        let answers = update { state -> [@Sendable () -> Void] in
            state.released.insert(name)
            return state.held.removeValue(forKey: name) ?? []
        }
        for answer in answers { answer() }
    }

    fileprivate func update<T>(_ body: (inout State) -> T) -> T {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return body(&state)
    }
}

/// One connection of the local web server. On its channel's event loop.
private final class WebHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: LocalWebServer
    private var path: String?
    private var answered = true
    private var hugeRemaining = 0
    private var context: ChannelHandlerContext?
    private static let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)

    init(server: LocalWebServer) {
        self.server = server
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.uri
            answered = false
            server.update { $0.hits[head.uri, default: 0] += 1 }
        case .body:
            break
        case .end:
            route(path ?? "/")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let path, !answered { server.update { $0.closedEarly[path, default: 0] += 1 } }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        pumpHuge()
        context.fireChannelWritabilityChanged()
    }

    private func route(_ path: String) {
        let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
        switch (parts.first, parts.count > 1 ? parts[1] : "") {
        case ("page", let name):
            respond(.ok, body: "page \(name)\n")
        case ("status", let code):
            respond(HTTPResponseStatus(statusCode: Int(code) ?? 500), body: "status \(code)\n")
        case ("flaky", _):
            let first = server.snapshot.hits[path] == 1
            respond(first ? .internalServerError : .ok, body: first ? "broken\n" : "page flaky\n")
        case ("held", let name):
            let loopBound = NIOLoopBound(self, eventLoop: context!.eventLoop)
            let answer: @Sendable () -> Void = {
                loopBound.eventLoop.execute { loopBound.value.respond(.ok, body: "page \(name)\n") }
            }
            let now = server.update { state -> Bool in
                if state.released.contains(name) { return true }
                state.held[name, default: []].append(answer)
                return false
            }
            if now { respond(.ok, body: "page \(name)\n") }
        case ("silent", _):
            break
        case ("huge", _), ("huge-announced", _):
            var headers = HTTPHeaders()
            if path == "/huge-announced" { headers.add(name: "Content-Length", value: "\(LocalWebServer.hugeSize)") }
            context!.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            hugeRemaining = LocalWebServer.hugeSize
            pumpHuge()
        case ("redirect-file", _):
            var headers = HTTPHeaders()
            headers.add(name: "Location", value: "file:///etc/passwd")
            respond(.found, headers: headers, body: "moved\n")
        default:
            respond(.notFound, body: "no such page\n")
        }
    }

    private func respond(_ status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(), body: String) {
        guard let context, context.channel.isActive else { return }
        var headers = headers
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        answered = true
    }

    /// Writes the huge body as the reader takes it: never more than the socket's buffers ahead.
    private func pumpHuge() {
        guard let context, hugeRemaining > 0 else { return }
        var written = 0
        while hugeRemaining > 0 && context.channel.isWritable {
            let size = min(hugeRemaining, WebHandler.chunk.readableBytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(WebHandler.chunk.getSlice(at: 0, length: size)!))), promise: nil)
            hugeRemaining -= size
            written += size
            context.flush()
        }
        let total = written
        server.update { $0.hugeBytesWritten += total }
        if hugeRemaining == 0 {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            answered = true
            server.update { $0.hugeCompleted += 1 }
        }
    }
}
