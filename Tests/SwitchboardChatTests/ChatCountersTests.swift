import XCTest
@testable import SwitchboardChat

/// The metrics' close-reason label: the words before any `:`, spaces as `_`, whatever the text.
final class ChatCountersTests: XCTestCase {
    func testACloseReasonBecomesItsWordsBeforeAnyColonWithUnderscores() {
        XCTAssertEqual(ChatCounters.label(forReason: "quit"), "quit")
        XCTAssertEqual(ChatCounters.label(forReason: "quit: gone fishing"), "quit")
        XCTAssertEqual(ChatCounters.label(forReason: "connection closed"), "connection_closed")
        XCTAssertEqual(ChatCounters.label(forReason: "send queue exceeded: 65536 bytes"), "send_queue_exceeded")
        XCTAssertEqual(ChatCounters.label(forReason: "adiós amigo: é"), "adiós_amigo")
        XCTAssertEqual(ChatCounters.label(forReason: ""), "")
        XCTAssertEqual(ChatCounters.label(forReason: ": nothing before"), "")
    }
}
