import NIOCore
import SwitchboardModeration
import XCTest

/// Password-guess throttling without a clock: the limit, the window sliding, success clearing, and the
/// bound on tracked keys under thousands of addresses.
final class FailureThrottleTests: XCTestCase {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func testLimitThenWaitUntilTheOldestFailureLeavesTheWindow() {
        var throttle = FailureThrottle<String>(limit: 3, window: .seconds(60))
        for second in 0..<3 {
            XCTAssertNil(throttle.wait(for: "a", now: start + .seconds(Int64(second))))
            throttle.failed("a", now: start + .seconds(Int64(second)))
        }
        XCTAssertEqual(throttle.wait(for: "a", now: start + .seconds(10)), .seconds(50))
        XCTAssertNil(throttle.wait(for: "b", now: start + .seconds(10)), "other keys are not affected")
        XCTAssertNil(throttle.wait(for: "a", now: start + .seconds(60)), "the first failure left the window")
        throttle.failed("a", now: start + .seconds(60))
        XCTAssertEqual(throttle.wait(for: "a", now: start + .seconds(60)), .seconds(1), "the second failure is next")
    }

    func testSuccessAndForgetClearTheKey() {
        var throttle = FailureThrottle<Int>(limit: 1, window: .seconds(600))
        throttle.failed(1, now: start)
        XCTAssertNotNil(throttle.wait(for: 1, now: start))
        throttle.succeeded(1)
        XCTAssertNil(throttle.wait(for: 1, now: start))
        throttle.failed(2, now: start)
        throttle.forget(2)
        XCTAssertEqual(throttle.trackedKeys, 0)
    }

    /// Thousands of addresses each failing: at most `maximumKeys` are remembered, and the newest are kept.
    func testTrackedKeysAreBounded() {
        var throttle = FailureThrottle<Int>(limit: 1, window: .seconds(600), maximumKeys: 100)
        for key in 0..<5_000 { throttle.failed(key, now: start + .milliseconds(Int64(key))) }
        XCTAssertEqual(throttle.trackedKeys, 100)
        XCTAssertNotNil(throttle.wait(for: 4_999, now: start + .seconds(5)))
        XCTAssertNil(throttle.wait(for: 0, now: start + .seconds(5)), "the stalest was forgotten")
    }

    /// Checks in flight count against the limit: a thousand guesses started at once pass the gate `limit`
    /// times, not a thousand; when they finish, failures hold the key, and a check that was not a wrong
    /// password (a right one, an error) frees its place.
    func testChecksInFlightCountAgainstTheLimit() {
        var throttle = FailureThrottle<String>(limit: 10, window: .seconds(600))
        var passed = 0
        for _ in 0..<1_000 where throttle.wait(for: "a", now: start) == nil {
            throttle.started("a")
            passed += 1
        }
        XCTAssertEqual(passed, 10)
        XCTAssertEqual(throttle.wait(for: "a", now: start), FailureThrottle<String>.inFlightWait)
        throttle.finished("a", failed: false, now: start)
        XCTAssertNil(throttle.wait(for: "a", now: start), "a check that did not fail frees its place")
        for _ in 0..<9 { throttle.finished("a", failed: true, now: start) }
        XCTAssertNil(throttle.wait(for: "a", now: start), "9 failures of 10")
        throttle.failed("a", now: start)
        XCTAssertEqual(throttle.wait(for: "a", now: start + .seconds(100)), .seconds(500))
    }
}
