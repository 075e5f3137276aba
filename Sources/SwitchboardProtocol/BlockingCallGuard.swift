import NIOPosix

/// Makes "no blocking call on an event loop" checkable for any blocking call, not only a database's: a blocking
/// function calls ``check(_:file:line:)`` first, and in debug builds it traps when the calling thread is a
/// SwiftNIO event loop's. The fix it asks for is Twisted's `deferToThread`: run the call on a thread pool
/// (`NIOThreadPool.runIfActive(eventLoop:_:)`), which hands the result back to the loop as a future.
///
/// SwitchboardDatabase guards every sqlite3 and libpq call with it, naming its `DatabasePool` as the remedy.
///
/// Threading: call from any thread; that is the point.
public enum BlockingCallGuard {
    /// Whether the calling thread is one of a `MultiThreadedEventLoopGroup`'s event loop threads.
    public static var isOnEventLoop: Bool {
        MultiThreadedEventLoopGroup.currentEventLoop != nil
    }

    /// Traps (debug builds only; nothing in release builds) if called on an event loop thread. `operation`
    /// names the blocking call in the message.
    @inline(__always)
    public static func check(_ operation: StaticString, file: StaticString = #fileID, line: UInt = #line) {
        check(operation, remedy: "run it on a thread pool instead", file: file, line: line)
    }

    /// As ``check(_:file:line:)``, with `remedy` saying where the call belongs (the module's own pool).
    @inline(__always)
    public static func check(_ operation: StaticString, remedy: StaticString, file: StaticString = #fileID, line: UInt = #line) {
        #if DEBUG
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop {
            preconditionFailure(
                "blocking call '\(operation)' made on event loop thread \(loop); \(remedy)", file: file, line: line)
        }
        #endif
    }
}
