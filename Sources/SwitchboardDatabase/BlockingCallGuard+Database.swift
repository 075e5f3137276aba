import SwitchboardProtocol

extension BlockingCallGuard {
    /// Guards one sqlite3 or libpq call: every call site in this module calls it first, so "no blocking
    /// database call on an event loop" is checkable rather than a promise (debug builds trap; release builds
    /// compile it to nothing).
    @inline(__always)
    static func checkDatabaseCall(_ operation: StaticString, file: StaticString = #fileID, line: UInt = #line) {
        check(operation, remedy: "run it on the DatabasePool instead", file: file, line: line)
    }
}
