import Foundation
import XCTest

@testable import SwitchboardDatabase

extension XCTestCase {
    /// Ends `victim`'s backend with `pg_terminate_backend`, sent through `killer`, and returns once PostgreSQL
    /// no longer lists it: the call only signals the backend, so this polls `pg_stat_activity` (at most 10 s).
    func terminateBackend(
        of victim: PostgresConnection, using killer: PostgresConnection, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let pid = try XCTUnwrap(victim.query("SELECT pg_backend_pid()", []).first?.first?.int64, file: file, line: line)
        XCTAssertEqual(try killer.query("SELECT pg_terminate_backend($1::int)", [.integer(pid)]), [[.text("t")]], file: file, line: line)
        for _ in 0..<200 {
            let alive = try killer.query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", [.integer(pid)])
            if alive.first?.first?.int64 == 0 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("backend \(pid) was still alive 10 s after pg_terminate_backend", file: file, line: line)
    }
}
