import Foundation
import SwitchboardTestSupport
import XCTest

/// PostgreSQL passwords with awkward characters never reach the output of `serve` or `history`, and
/// still work: checked against a private cluster that really checks passwords (SCRAM-SHA-256).
final class SecretsEndToEndTests: XCTestCase {
    /// Passwords as written in a URL, and the password they stand for.
    static let nasty: [(written: String, password: String)] = [
        ("pw%zz-x", "pw%zz-x"),  // a % escape libpq rejects; kept as written
        ("p/w-secret", "p/w-secret"),
        ("p?w-secret", "p?w-secret"),
        ("p@ss:w-secret", "p@ss:w-secret"),
        ("%41%42%43-secret", "ABC-secret"),
        ("s%C3%A9cr%E2%82%ACt", "sécr€t"),
        ("sécr€t-ü", "sécr€t-ü"),
    ]

    private var cluster: PasswordCheckingCluster!

    override func setUpWithError() throws {
        let cluster = try PasswordCheckingCluster.make()
        self.cluster = cluster
        try cluster.createRole("chat", password: "the right horse")
    }

    override func tearDown() { cluster = nil }

    /// Every way a password may be spelled: as written, as meant, percent-encoded.
    static func spellings(_ entry: (written: String, password: String)) -> [String] {
        [entry.written, entry.password, entry.password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!]
    }

    /// With the server down or the password wrong, in the user info or as `?password=` / `?PASSWORD=`,
    /// neither `serve` nor `history` shows the password, in any spelling.
    func testNastyPasswordsNeverAppearInOutput() throws {
        let directory = try makeTemporaryDirectory()
        let closedPort = try StartupEndToEndTests.closedPort()
        for entry in Self.nasty {
            var urls = [
                "postgres://chat:\(entry.written)@127.0.0.1:\(closedPort)/chat",
                "postgres://chat:\(entry.written)@127.0.0.1:\(cluster.port)/chat",
            ]
            for key in ["password", "PASSWORD"] {
                urls.append("postgres://chat@127.0.0.1:\(cluster.port)/chat?\(key)=\(entry.written)&application_name=sb")
            }
            for url in urls {
                for command in ["serve", "history"] {
                    var arguments = [command, "--database", url, "--db-connect-timeout", "0"]
                    if command == "serve" { arguments += ["--listen", "tcp:0:interface=127.0.0.1"] }
                    let run = try runSwitchboardBounded(arguments, in: directory)
                    XCTAssertEqual(run.status, 1, "\(command) \(entry.written):\n\(run.output)")
                    XCTAssertTrue(run.output.contains("127.0.0.1"), "the host is named:\n\(run.output)")
                    for spelling in Self.spellings(entry) {
                        XCTAssertFalse(run.output.contains(spelling), "\(command) showed '\(spelling)':\n\(run.output)")
                    }
                    if url.contains("\(cluster.port)") {
                        XCTAssertTrue(
                            run.output.contains(#"password authentication failed for user "chat""#),
                            "the real cause:\n\(run.output)")
                    }
                }
            }
        }
    }

    /// The right password, however awkward, connects: `migrate` and `history` succeed with it in the user
    /// info or the query, and `serve` starts with it.
    func testNastyPasswordsConnect() throws {
        let directory = try makeTemporaryDirectory()
        for (index, entry) in Self.nasty.enumerated() {
            let role = "nasty\(index)"
            try cluster.createRole(role, password: entry.password)
            var urls = ["postgres://\(role):\(entry.written)@127.0.0.1:\(cluster.port)/\(role)"]
            urls.append("postgresql://\(role)@127.0.0.1:\(cluster.port)/\(role)?PASSWORD=\(entry.written)")
            for url in urls {
                for command in ["migrate", "history"] {
                    let run = try runSwitchboardBounded([command, "--database", url, "--db-connect-timeout", "0"], in: directory)
                    XCTAssertEqual(run.status, 0, "\(command) \(url):\n\(run.output)")
                    for spelling in Self.spellings(entry) {
                        XCTAssertFalse(run.output.contains(spelling), "\(command) showed '\(spelling)':\n\(run.output)")
                    }
                }
            }
            if ["p?w-secret", "pw%zz-x"].contains(entry.written) {
                let server = try ServerProcess.serve(database: urls[0], in: directory)
                XCTAssertEqual(server.terminate(), 0)
                for spelling in Self.spellings(entry) {
                    XCTAssertFalse(server.logText.contains(spelling), server.logText)
                }
            }
        }
    }
}
