import NIOCore
import NIOPosix
import SwitchboardProtocol
import XCTest

/// `BlockingCallGuard` tells event loop threads from the others (its trap is a precondition on this answer).
final class BlockingCallGuardTests: XCTestCase {
    /// An event loop thread is one; the test's own thread and a thread pool's are not.
    func testOnlyEventLoopThreadsCountAsOnTheLoop() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? pool.syncShutdownGracefully() }
        let loop = group.next()

        XCTAssertFalse(BlockingCallGuard.isOnEventLoop)
        XCTAssertTrue(try loop.submit { BlockingCallGuard.isOnEventLoop }.wait())
        XCTAssertFalse(try pool.runIfActive(eventLoop: loop) { BlockingCallGuard.isOnEventLoop }.wait())
        // What `check` does off the loop: nothing.
        try pool.runIfActive(eventLoop: loop) { BlockingCallGuard.check("test") }.wait()
    }
}
