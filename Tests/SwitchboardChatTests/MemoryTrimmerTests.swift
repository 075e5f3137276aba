@testable import SwitchboardChat
import Logging
import XCTest

/// When the server gives freed memory back: once a crowd (1 000 or more) has left since the most it saw,
/// once more a couple of looks later (what the crowd's sessions left to free), and not again until another
/// crowd has left.
final class MemoryTrimmerTests: XCTestCase {
    func testItTrimsOnceACrowdHasLeftAndNotBefore() {
        let trimmer = MemoryTrimmer(logger: Logger(label: "test"))
        XCTAssertFalse(trimmer.observe(0))
        XCTAssertFalse(trimmer.observe(1_500))
        XCTAssertFalse(trimmer.observe(600), "900 left: not a crowd")
        XCTAssertTrue(trimmer.observe(500), "1 000 left since the most seen")
        XCTAssertFalse(trimmer.observe(0), "500 more left: not another crowd yet")
        XCTAssertTrue(trimmer.observe(0), "the follow-up, two looks after the crowd's trim")
        XCTAssertFalse(trimmer.observe(0))
        XCTAssertFalse(trimmer.observe(2_000))
        XCTAssertTrue(trimmer.observe(1_000), "1 000 left since 2 000")
    }

    /// A crowd leaving over several looks is trimmed at each look that sees 1 000 more gone; the follow-up
    /// comes two looks after the last of them, once.
    func testTheFollowUpComesAfterTheLastCrowdTrim() {
        let trimmer = MemoryTrimmer(logger: Logger(label: "test"))
        XCTAssertFalse(trimmer.observe(20_000))
        XCTAssertTrue(trimmer.observe(15_000))
        XCTAssertTrue(trimmer.observe(5_000))
        XCTAssertFalse(trimmer.observe(4_500))
        XCTAssertTrue(trimmer.observe(0), "5 000 gone since the last trim: a crowd trim, which moves the follow-up on")
        XCTAssertFalse(trimmer.observe(0))
        XCTAssertTrue(trimmer.observe(0), "the follow-up")
        XCTAssertFalse(trimmer.observe(0))
        XCTAssertFalse(trimmer.observe(0))
    }

    /// A crowd that came and went between two looks is noticed by the peak the hub kept meanwhile.
    func testACrowdBetweenTwoLooksIsNoticed() {
        let trimmer = MemoryTrimmer(logger: Logger(label: "test"))
        XCTAssertFalse(trimmer.observe(10))
        XCTAssertTrue(trimmer.observe(10, peakSinceLastLook: 3_010))
    }

    /// glibc's malloc_trim is found at run time on Linux.
    func testMallocTrimIsFoundOnGlibc() {
        #if canImport(Glibc)
        XCTAssertNotNil(MemoryTrimmer.mallocTrim)
        #endif
    }
}
