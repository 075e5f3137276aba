import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

extension XCTestCase {
    /// Asks `client` for `/count` until it says `expected` clients (the other servers' news takes a moment),
    /// bounded; returns the last answer.
    @discardableResult
    func waitForCount(
        _ client: LineClient, _ expected: Int, timeout: TimeInterval = 15, file: StaticString = #filePath, line: UInt = #line
    ) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        repeat {
            client.send("/count\r\n")
            last = client.readLines(until: { $0.contains(" in total") }).last ?? ""
            if last.hasPrefix("* \(expected) clients connected") { return last }
            usleep(50_000)
        } while Date() < deadline
        XCTFail("expected \(expected) clients, last /count: \(last)", file: file, line: line)
        return last
    }
}
