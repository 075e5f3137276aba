import NIOHTTP1
import XCTest

@testable import SwitchboardWeb

/// Origins compare as browsers compare them, and `/chat` admits the page's own origin, the listed ones, and
/// non-browser clients (no `Origin`) only.
final class WebOriginTests: XCTestCase {
    func testOriginsParseWithTheirDefaultPortsAndRefuseEverythingElse() {
        XCTAssertEqual(WebOrigin(parsing: "http://Chat.Example")?.description, "http://chat.example:80")
        XCTAssertEqual(WebOrigin(parsing: "https://chat.example")?.port, 443)
        XCTAssertEqual(WebOrigin(parsing: "https://chat.example:8443/")?.port, 8443)
        XCTAssertEqual(WebOrigin(parsing: "http://[::1]:8080")?.host, "[::1]")
        for bad in ["null", "chat.example", "ftp://chat.example", "http://", "http://a/b", "http://u@chat.example",
                    "http://chat.example:0", "http://chat.example:99999", "http://a:b:c", "https://x?y"] {
            XCTAssertNil(WebOrigin(parsing: bad), bad)
        }
    }

    func testChatAdmitsItsOwnOriginListedOnesAndClientsWithoutAnOrigin() {
        let admission = WebSocketAdmission(allowedOrigins: ["https://other.example"])
        func verdict(origin: String?, host: String = "chat.example:8080", path: String = "/chat") -> WebSocketAdmission.Verdict {
            var headers = HTTPHeaders([("Host", host)])
            if let origin { headers.add(name: "Origin", value: origin) }
            return admission.check(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers))
        }
        XCTAssertEqual(verdict(origin: "http://chat.example:8080"), .accepted)
        XCTAssertEqual(verdict(origin: "http://CHAT.example:8080"), .accepted)
        XCTAssertEqual(verdict(origin: "https://other.example"), .accepted)
        XCTAssertEqual(verdict(origin: nil), .accepted)
        XCTAssertEqual(verdict(origin: "http://chat.example:8081"), .forbiddenOrigin)
        XCTAssertEqual(verdict(origin: "http://evil.example"), .forbiddenOrigin)
        XCTAssertEqual(verdict(origin: "null"), .forbiddenOrigin)
        XCTAssertEqual(verdict(origin: "http://chat.example:8080", host: "chat.example:8080, evil"), .forbiddenOrigin)
        XCTAssertEqual(verdict(origin: "http://chat.example:8080", path: "/other"), .notWebSocket)
        XCTAssertEqual(verdict(origin: "http://chat.example:8080", path: "/chat?x=1"), .accepted)
    }
}
