import SwitchboardModeration
import XCTest

/// Durations as operators type them, and every bad spelling the issue names refused with its reason.
final class ModerationDurationTests: XCTestCase {
    func testGoodDurations() throws {
        let cases: [(String, Int64)] = [
            ("30s", 30), ("10m", 600), ("2h", 7_200), ("7d", 604_800), ("2w", 1_209_600), ("1h30m", 5_400),
            ("1d12h", 129_600), ("3650d", 315_360_000),
        ]
        for (text, seconds) in cases {
            XCTAssertEqual(try ModerationDuration(parsing: text).seconds, seconds, text)
        }
        XCTAssertEqual(ModerationDuration(seconds: 5_400).description, "1h30m")
        XCTAssertEqual(ModerationDuration(seconds: 1_209_600 + 60).description, "2w1m")
    }

    /// `-1`, `99999999999d`, `1x` (the examples) and their kin: each a clear line naming the input.
    func testBadDurationsAreRefusedWithAReason() {
        let cases: [(String, String)] = [
            ("-1", "use a number and a unit"), ("+5m", "use a number and a unit"),
            ("99999999999d", "longer than 10 years"), ("3651d", "longer than 10 years"),
            ("99999999999999999999999s", "longer than 10 years"), ("9223372036854775807w", "longer than 10 years"),
            ("1x", "unknown unit 'x'"), ("10", "add a unit"), ("0s", "longer than 0"), ("0", "add a unit"),
            ("d", "a number must come before 'd'"), ("1h 30m", "unknown unit ' '"), ("", "cannot be empty"),
            ("٣d", "unknown unit '٣'"), ("1h\u{202E}", "unknown unit"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try ModerationDuration(parsing: text), text) { error in
                let message = (error as? ModerationInputError)?.message ?? "\(error)"
                XCTAssertTrue(message.contains(reason), "\(text): \(message)")
            }
        }
    }

    /// What a command treats as a duration (then refuses if malformed) rather than as a reason's first word.
    func testLooksLikeDuration() {
        for word in ["1h", "-1", "+3", "99999999999d", "1x"] { XCTAssertTrue(ModerationDuration.looksLikeDuration(word), word) }
        for word in ["spam", "", "h1", "٣d"] { XCTAssertFalse(ModerationDuration.looksLikeDuration(word), word) }
    }
}
