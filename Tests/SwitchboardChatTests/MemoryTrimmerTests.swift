@testable import SwitchboardChat
import Logging
import XCTest

/// When the server gives freed memory back: once a crowd (1 000 or more) has left since the most it saw,
/// and not again until another crowd has.
final class MemoryTrimmerTests: XCTestCase {
    func testItTrimsOnceACrowdHasLeftAndNotBefore() {
        let trimmer = MemoryTrimmer(logger: Logger(label: "test"))
        XCTAssertFalse(trimmer.observe(0))
        XCTAssertFalse(trimmer.observe(1_500))
        XCTAssertFalse(trimmer.observe(600), "900 left: not a crowd")
        XCTAssertTrue(trimmer.observe(500), "1 000 left since the most seen")
        XCTAssertFalse(trimmer.observe(0), "500 more left: not another crowd yet")
        XCTAssertFalse(trimmer.observe(2_000))
        XCTAssertTrue(trimmer.observe(1_000), "1 000 left since 2 000")
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
