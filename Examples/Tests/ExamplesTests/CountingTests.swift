import NIOCore
import NIOPosix
import SwitchboardProtocol
import XCTest

@testable import counting

/// `counting` on real sockets: the count on connect and on each line, up as clients come and down as they go.
final class CountingTests: XCTestCase {
    /// The welcome and every answer say how many clients are connected at that moment.
    func testCountOnConnectAndOnEveryLine() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let listener = try Counting.bootstrap(loop: group.next())
            .bind(to: Endpoint(parsing: "tcp:0:interface=127.0.0.1")).wait()
        defer { try? listener.close().wait() }
        let port = listener.localAddress!.port!

        let alice = try LineClient(port: port)
        XCTAssertEqual(alice.readLine(), "* Welcome! 1 client connected")
        let bob = try LineClient(port: port)
        XCTAssertEqual(bob.readLine(), "* Welcome! 2 clients connected")
        alice.send(line: "how many?")
        XCTAssertEqual(alice.readLine(), "* 2 clients connected")

        // Bob leaves. The server closes his connection on its loop, in the same turn that it counts him out, so
        // once his end sees the close, alice's next line is answered after the count went down.
        bob.shutdownWrite()
        XCTAssertEqual(bob.readUntilClosed(), [])
        alice.send(line: "and now?")
        XCTAssertEqual(alice.readLine(), "* 1 client connected")
    }
}
