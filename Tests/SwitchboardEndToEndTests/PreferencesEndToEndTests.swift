import Foundation
import SwitchboardTestSupport
import XCTest

/// `/away`, `/back`, `/ignore`, `/unignore`, `/bell` on real sockets, on both databases.
final class PreferencesEndToEndTests: XCTestCase {
    func testAwayIgnoreAndBell() async throws {
        try await forEachBackend { database, _ in
            let server = try await InProcessServer.start(database: database, for: self)
            let (alice, _) = try server.join()
            let (bob, _) = try server.join()
            alice.expect("* guest2 joined (2 clients connected)")
            alice.send("/nick alice\r\n")
            alice.expect("* guest1 is now known as alice")
            bob.expect("* guest1 is now known as alice")
            bob.send("/nick bob\r\n")
            bob.expect("* guest2 is now known as bob")
            alice.expect("* guest2 is now known as bob")

            // Away: shown in /who, and a /msg gets the reason.
            alice.send("/away lunch\r\n")
            alice.expect("* you are away: lunch")
            bob.send("/who\r\n/msg alice ping\r\n")
            bob.expect("* 2 connected: alice (away), bob")
            bob.expect("-> alice: ping")
            bob.expect("* alice is away: lunch")
            alice.expect("*bob* ping")
            alice.send("/back\r\n/back\r\n")
            alice.expect("* you are back")
            alice.expect("! you are not away")

            // Ignore: bob's lines and messages no longer reach alice; bob cannot tell.
            alice.send("/ignore BOB\r\n/ignore\r\n/ignore alice\r\n")
            alice.expect("* ignoring BOB: their lines and messages no longer reach you")
            alice.expect("* you ignore: bob")
            alice.expect("! you cannot ignore yourself")
            bob.send("you there?\r\n/msg alice hello\r\n/me waves\r\n")
            bob.expect("-> alice: hello")
            alice.send("/count\r\n")
            alice.expect("* 2 clients connected, 2 visits in total")  // nothing of bob's came before it
            alice.send("/unignore bob\r\n")
            alice.expect("* no longer ignoring bob")
            bob.send("now?\r\n")
            alice.expect("<bob> now?")

            // Bell: a line that mentions you ends in BEL when you asked for it; others are unchanged.
            alice.send("/bell on\r\n")
            alice.expect("* the bell rings when a line mentions you")
            bob.send("hey alice, look\r\nalicex is not you\r\n")
            alice.expect("<bob> hey alice, look\u{07}")
            alice.expect("<bob> alicex is not you")
            alice.send("/bell off\r\n")
            alice.expect("* no bell")
            bob.send("alice again\r\n")
            alice.expect("<bob> alice again")
            await server.stop()
        }
    }
}
