import SwitchboardHistory
import XCTest
@testable import SwitchboardChat

/// When a line mentions a nickname (for `/bell`): as a word, ignoring case; not inside a longer name.
final class ClientPreferencesTests: XCTestCase {
    func testMentions() {
        for text in ["alice", "hi alice", "Alice: look", "@ALICE!", "ping alice.", "(alice)", "alice, alice"] {
            XCTAssertTrue(ClientPreferences.mentions(text, "alice"), text)
        }
        for text in ["", "alicex", "xalice", "al ice", "alice_2", "alice-b", "malice"] {
            XCTAssertFalse(ClientPreferences.mentions(text, "alice"), text)
        }
        XCTAssertTrue(ClientPreferences.mentions("thanks guest-7!", "guest-7"))
        XCTAssertFalse(ClientPreferences.mentions("anything", ""))
    }

    func testForgetClearsEverything() {
        var preferences = ClientPreferences()
        let id = ConnectionKey(7)
        preferences.away[id] = "lunch"
        preferences.ignoring[id] = ["bob"]
        preferences.bell.insert(id)
        XCTAssertTrue(preferences.altersDelivery)
        preferences.forget(id)
        XCTAssertFalse(preferences.altersDelivery)
        XCTAssertTrue(preferences.away.isEmpty)
    }
}
