import NIOCore
@testable import SwitchboardChat
import SwitchboardTestSupport
import XCTest

/// Named or batched join/leave notices, decided as a value with the clock passed in.
final class NoticeThrottleTests: XCTestCase {
    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private func at(_ milliseconds: Int64) -> NIODeadline { t0 + .milliseconds(milliseconds) }

    /// Up to the rate in a second, each notice is named; the next begins a batch (the hub starts its timer),
    /// and the rest are counted.
    func testPastTheRateNoticesAreCountedIntoOneLine() {
        var throttle = NoticeThrottle(now: t0)
        for n in 0..<3 { XCTAssertEqual(throttle.notice(joined: true, rate: 3, now: at(Int64(n))), .named) }
        XCTAssertEqual(throttle.notice(joined: true, rate: 3, now: at(10)), .counted(startTimer: true))
        XCTAssertEqual(throttle.notice(joined: false, rate: 3, now: at(20)), .counted(startTimer: false))
        XCTAssertEqual(throttle.notice(joined: false, rate: 3, now: at(30)), .counted(startTimer: false))
        let fired = throttle.timerFired(rate: 3, now: at(1_010))
        XCTAssertEqual(fired.batch, .init(joined: 1, left: 2))
        XCTAssertFalse(fired.continues, "three in the batch second: not more than the rate")
        XCTAssertEqual(throttle.notice(joined: true, rate: 3, now: at(1_020)), .named, "named again")
    }

    /// A storm keeps batching for as long as a second brings more than the rate; a quiet second ends it,
    /// with nothing left to say if nothing came.
    func testAStormKeepsBatchingUntilAQuietSecond() {
        var throttle = NoticeThrottle(now: t0)
        _ = throttle.notice(joined: true, rate: 1, now: t0)
        XCTAssertEqual(throttle.notice(joined: true, rate: 1, now: t0), .counted(startTimer: true))
        for _ in 0..<5 { _ = throttle.notice(joined: false, rate: 1, now: at(500)) }
        let first = throttle.timerFired(rate: 1, now: at(1_000))
        XCTAssertEqual(first.batch, .init(joined: 1, left: 5))
        XCTAssertTrue(first.continues)
        XCTAssertEqual(throttle.notice(joined: true, rate: 1, now: at(1_100)), .counted(startTimer: false), "still batching")
        let second = throttle.timerFired(rate: 1, now: at(2_000))
        XCTAssertEqual(second.batch, .init(joined: 1, left: 0))
        XCTAssertFalse(second.continues)
        XCTAssertFalse(throttle.isBatching)
    }

    /// Rate 0 names every notice.
    func testRateZeroNamesEverything() {
        var throttle = NoticeThrottle(now: t0)
        XCTAssertTrue((0..<1_000).allSatisfy { _ in throttle.notice(joined: true, rate: 0, now: t0) == .named })
    }

    /// Random sequences of notices and timer firings: every notice is named or counted once; the batched lines
    /// add up to what was counted; nothing named while a batch is under way; a batch starts its timer exactly
    /// once; the windows are whole seconds from the first notice of each, so any second names at most twice
    /// the rate (the end of one window and the start of the next).
    func testRandomSequencesAccountForEveryNotice() {
        for seed in UInt64(1)...200 {
            var random = SplitMix64(seed: seed)
            let rate = Int(random.next() % 5) + 1
            var throttle = NoticeThrottle(now: t0)
            var now = t0
            var counted = (joined: 0, left: 0)
            var said = (joined: 0, left: 0)
            var named: [NIODeadline] = []
            var timerDue: NIODeadline?
            for step in 0..<300 {
                now = now + .milliseconds(Int64(random.next() % 300))
                if let due = timerDue, now >= due {
                    let fired = throttle.timerFired(rate: rate, now: due)
                    if let batch = fired.batch {
                        said.joined += batch.joined
                        said.left += batch.left
                    }
                    timerDue = fired.continues ? due + .seconds(1) : nil
                    XCTAssertEqual(throttle.isBatching, fired.continues, "seed \(seed) step \(step)")
                }
                let joined = random.next() % 2 == 0
                let batchingBefore = throttle.isBatching
                switch throttle.notice(joined: joined, rate: rate, now: now) {
                case .named:
                    XCTAssertFalse(batchingBefore, "named during a batch: seed \(seed) step \(step)")
                    named.append(now)
                case .counted(let start):
                    XCTAssertEqual(start, !batchingBefore, "a batch starts its timer once: seed \(seed) step \(step)")
                    if start { timerDue = now + .seconds(1) }
                    if joined { counted.joined += 1 } else { counted.left += 1 }
                }
                let window = named.filter { now - $0 < .seconds(1) }
                XCTAssertLessThanOrEqual(window.count, 2 * rate, "seed \(seed) step \(step)")
            }
            if let due = timerDue, let batch = throttle.timerFired(rate: rate, now: due).batch {
                said.joined += batch.joined
                said.left += batch.left
            }
            XCTAssertEqual(said.joined, counted.joined, "seed \(seed)")
            XCTAssertEqual(said.left, counted.left, "seed \(seed)")
        }
    }
}
