import NIOPosix

/// Makes "no blocking database call on an event loop" checkable rather than a promise.
///
/// Every sqlite3 and libpq call site calls ``check(_:)`` first. In debug builds it traps when the current
/// thread is a SwiftNIO event loop thread; in release builds it compiles to nothing.
public enum EventLoopGuard {
    /// Traps (debug builds only) if called on an event loop thread.
    @inline(__always)
    public static func check(_ operation: StaticString, file: StaticString = #fileID, line: UInt = #line) {
        #if DEBUG
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop {
            preconditionFailure(
                "blocking database call '\(operation)' made on event loop thread \(loop); "
                    + "run it on the DatabasePool instead",
                file: file,
                line: line
            )
        }
        #endif
    }
}
