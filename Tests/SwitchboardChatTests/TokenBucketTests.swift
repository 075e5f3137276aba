import NIOCore
@testable import SwitchboardChat
import XCTest

/// Flood control as a value, with the clock passed in.
final class TokenBucketTests: XCTestCase {
    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// A burst at once, then the rate.
    func testABurstThenTheRate() {
        var bucket = TokenBucket(rate: 10, burst: 20, now: t0)
        XCTAssertEqual((0..<25).filter { _ in bucket.take(now: t0) }.count, 20)
        XCTAssertEqual((0..<25).filter { _ in bucket.take(now: t0 + .seconds(1)) }.count, 10)
        XCTAssertEqual((0..<100).filter { _ in bucket.take(now: t0 + .seconds(60)) }.count, 20, "never more than the burst")
    }

    /// Rate 0 is no limit.
    func testRateZeroIsNoLimit() {
        var bucket = TokenBucket(rate: 0, burst: 1, now: t0)
        XCTAssertTrue((0..<10_000).allSatisfy { _ in bucket.take(now: t0) })
    }

    /// After a hold of 5 s, what a client sent at the rate meanwhile passes on top of the burst, within the
    /// next 5 s (and a second); not later, and not more.
    func testAHoldIsCreditedForAsLongAgain() {
        var bucket = TokenBucket(rate: 10, burst: 20, now: t0)
        let relief = t0 + .seconds(5)
        bucket.credit(heldFor: .seconds(5), now: relief)
        XCTAssertEqual((0..<100).filter { _ in bucket.take(now: relief) }.count, 70, "20 of burst and 50 of credit")
        var later = TokenBucket(rate: 10, burst: 20, now: t0)
        later.credit(heldFor: .seconds(5), now: relief)
        XCTAssertEqual((0..<100).filter { _ in later.take(now: relief + .seconds(7)) }.count, 20, "the credit expired")
    }
}
