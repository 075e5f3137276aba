import Foundation
import NIOCore
import NIOPosix
import XCTest

/// Runs the real `switchboard-bench` binary (built next to this test bundle) against a minimal
/// broadcast server that lives in this file, so the tool is checked without the chat server.
final class BenchToolTests: XCTestCase {
    /// `fanout` with 3 clients × 5 lines counts all 3 × 5 × 2 = 30 deliveries and reports them in JSON.
    func testFanoutCountsEveryDelivery() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { XCTAssertNoThrow(try group.syncShutdownGracefully()) }
        let loop = group.next()
        let room = try loop.submit { NIOLoopBound(BroadcastRoom(), eventLoop: loop) }.wait()
        let server = try ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                // The child group is `loop` too, so the room is touched on its own loop only.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BroadcastHandler(room: room.value))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .wait()
        defer { XCTAssertNoThrow(try server.close().wait()) }
        let port = try XCTUnwrap(server.localAddress?.port)

        let run = try Self.runBench([
            "fanout", "--port", "\(port)", "--clients", "3", "--messages", "5", "--timeout", "30", "--json",
        ])

        XCTAssertEqual(run.status, 0, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
        let line = try XCTUnwrap(run.stdout.split(separator: "\n").last, "no output; stderr: \(run.stderr)")
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(report["expected_deliveries"] as? Int, 30)
        XCTAssertEqual(report["deliveries"] as? Int, 30)
        XCTAssertEqual(report["all_delivered"] as? Bool, true)
        XCTAssertEqual(report["ok"] as? Bool, true)
    }

    /// Exit status and output of one run of the tool.
    private struct BenchRun {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `switchboard-bench` with `arguments`; the tool's own `--timeout` bounds the run, and a
    /// watchdog kills it if even that fails.
    private static func runBench(_ arguments: [String]) throws -> BenchRun {
        let process = Process()
        process.executableURL = try Self.benchExecutable()
        process.arguments = arguments
        // Files, not pipes: a pipe nobody drains could block the tool on a large backtrace.
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bench-tool-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("stdout")
        let errURL = directory.appendingPathComponent("stderr")
        guard FileManager.default.createFile(atPath: outURL.path, contents: nil),
            FileManager.default.createFile(atPath: errURL.path, contents: nil)
        else { throw CocoaError(.fileWriteUnknown) }
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        process.standardOutput = outHandle
        process.standardError = errHandle

        try process.run()
        let watchdog = DispatchWorkItem { [process] in if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: watchdog)
        process.waitUntilExit()
        watchdog.cancel()
        try outHandle.close()
        try errHandle.close()
        return BenchRun(
            status: process.terminationStatus,
            stdout: try String(contentsOf: outURL, encoding: .utf8),
            stderr: try String(contentsOf: errURL, encoding: .utf8)
        )
    }

    /// `switchboard-bench` in the build directory this test bundle runs from (`.build/debug/`).
    private static func benchExecutable() throws -> URL {
        let bundle = Bundle(for: BenchToolTests.self).bundleURL
        let candidates = [
            bundle.deletingLastPathComponent(),
            bundle,
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
        ]
        for directory in candidates {
            let url = directory.appendingPathComponent("switchboard-bench")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw BenchNotFound(searched: candidates.map(\.path))
    }
}

/// The tool was not built next to the tests (the test target depends on it, so this is a build problem).
private struct BenchNotFound: Error, CustomStringConvertible {
    var searched: [String]
    var description: String { "switchboard-bench not found next to the test bundle (looked in \(self.searched))" }
}

/// The connections of the in-test broadcast server. Owned by the server's single event loop.
private final class BroadcastRoom {
    var members: [ObjectIdentifier: Channel] = [:]
    var nextGuest = 1
}

/// A minimal line chat server for the tool to talk to: `* welcome` on connect, each line relayed as
/// `<guestN> line` to every other member, `/quit` closes. Lives on the room's loop.
private final class BroadcastHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let room: BroadcastRoom
    private var name = ""
    private var pending: ByteBuffer?

    init(room: BroadcastRoom) {
        self.room = room
    }

    func channelActive(context: ChannelHandlerContext) {
        self.name = "guest\(self.room.nextGuest)"
        self.room.nextGuest += 1
        self.room.members[ObjectIdentifier(context.channel)] = context.channel
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "* welcome\r\n")), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.room.members[ObjectIdentifier(context.channel)] = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        if var pending = self.pending {
            pending.writeBuffer(&buffer)
            buffer = pending
        }
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            var line = buffer.readString(length: length) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            if line.hasSuffix("\r") { line.removeLast() }
            if line == "/quit" {
                context.close(promise: nil)
                return
            }
            let relayed = ByteBuffer(string: "<\(self.name)> \(line)\r\n")
            for (id, member) in self.room.members where id != ObjectIdentifier(context.channel) {
                member.writeAndFlush(relayed, promise: nil)
            }
        }
        self.pending = buffer.readableBytes > 0 ? buffer : nil
    }
}
