import NIOCore
import NIOPosix
import SwitchboardProtocol
import XCTest

@testable import upper

/// `upper` on a real socket: lines come back in upper case; the telnet framing in front of it does the rest.
final class UpperTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var listener: (any Channel)!
    private var client: LineClient!

    override func setUpWithError() throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        listener = try Upper.bootstrap(group: group).bind(to: Endpoint(parsing: "tcp:0:interface=127.0.0.1")).wait()
        client = try LineClient(port: listener.localAddress!.port!)
    }

    override func tearDownWithError() throws {
        client?.close()
        try listener?.close().wait()
        try group?.syncShutdownGracefully()
    }

    /// Every line comes back in upper case, Unicode included, one answer per line, in order.
    func testLinesComeBackInUpperCase() {
        client.send(line: "hello")
        client.send(line: "straße, ümlaut")
        XCTAssertEqual(client.readLine(), "HELLO")
        XCTAssertEqual(client.readLine(), "STRASSE, ÜMLAUT")
    }

    /// Telnet negotiation is answered by the framing and never echoed: `IAC DO ECHO` gets `IAC WONT ECHO`, and
    /// the line around it comes back without telnet bytes.
    func testTelnetNegotiationIsAnsweredNotEchoed() {
        client.send(Array("ab".utf8) + [255, 253, 1] + Array("c\r\n".utf8))
        XCTAssertEqual(client.readLineBytes(), [255, 252, 1] + Array("ABC".utf8))
    }

    /// A line over the 1024-byte limit gets an error line; the connection stays and the next line is answered.
    func testOverlongLineGetsAnErrorAndTheConnectionStays() {
        client.send(line: String(repeating: "x", count: 5000))
        client.send(line: "still here")
        XCTAssertEqual(client.readLine(), "! line too long (max 1024 bytes)")
        XCTAssertEqual(client.readLine(), "STILL HERE")
    }
}
