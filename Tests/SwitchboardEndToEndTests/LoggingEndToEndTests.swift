import Foundation
import SwitchboardTestSupport
import XCTest

/// Logs an operator can ship, from the real binary: `--log-format json` gives one JSON object per line; each
/// connection's accept and close are one info line each, with who, how long and how much; what people say
/// (chat lines, private messages, `/quit` messages) is never logged.
final class LoggingEndToEndTests: XCTestCase {
    /// A client that renames, chats, whispers and quits with a message, then a stop. Every line is a JSON object
    /// with time, level, label, source and message; the accept and the close are there with their metadata;
    /// no word the client said is anywhere in the log.
    func testJSONLogsOneObjectPerLineWithTheConnectionsAcceptAndCloseAndNoChatText() throws {
        let directory = try makeTemporaryDirectory()
        let server = ServerProcess(
            arguments: ["serve", "--listen", "tcp:0:interface=127.0.0.1", "--database", "sqlite:db.sqlite", "--log-format", "json"],
            workingDirectory: directory)
        try server.process.run()
        defer { server.terminate() }
        let started = try server.waitForLog(containing: #""message":"listening""#)
        let port = try XCTUnwrap(Self.port(in: started))

        let alice = try LineClient(port: port)
        XCTAssertEqual(alice.readLine()?.hasPrefix("* Welcome, guest1!"), true)
        let bob = try LineClient(port: port)
        XCTAssertEqual(bob.readLine()?.hasPrefix("* Welcome, guest2!"), true)
        alice.expect("* guest2 joined (2 clients connected)")
        alice.send("/nick alice\r\nthe password is swordfish\r\n/msg guest2 psst, tuna\r\n/quit off to see \"the wizard\"\r\n")
        XCTAssertEqual(alice.readUntilClosed().last, "* bye")
        try server.waitForLog(containing: #""message":"connection closed""#)
        XCTAssertEqual(server.terminate(), 0)

        let lines = server.logText.split(separator: "\n")
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
            for key in ["time", "level", "label", "source", "message"] {
                XCTAssertNotNil(object[key] as? String, "\(key) missing: \(line)")
            }
            XCTAssertNotNil(Self.iso8601.date(from: object["time"] as? String ?? ""), "time: \(line)")
            objects.append(object)
        }
        let accepted = objects.filter { $0["message"] as? String == "connection accepted" }.compactMap { $0["metadata"] as? [String: String] }
        XCTAssertEqual(accepted.count, 2)
        let first = try XCTUnwrap(accepted.first { $0["nick"] == "guest1" })
        XCTAssertEqual(first["visitor"], "1")
        XCTAssertEqual(first["via"], "plain")
        XCTAssertEqual(first["peer"], "127.0.0.1:\(alice.localPort)")
        XCTAssertNotNil(first["conn"])

        let closed = try XCTUnwrap(objects.first { $0["message"] as? String == "connection closed" })
        XCTAssertEqual(closed["level"] as? String, "info")
        let metadata = try XCTUnwrap(closed["metadata"] as? [String: String])
        XCTAssertEqual(metadata["nick"], "alice")
        XCTAssertEqual(metadata["conn"], first["conn"])
        XCTAssertEqual(metadata["reason"], "quit")
        XCTAssertEqual(metadata["lines-in"], "4")
        XCTAssertNotNil(metadata["duration-s"].flatMap(Double.init))
        XCTAssertNotNil(metadata["bytes-in"].flatMap(Int.init))
        XCTAssertNotNil(metadata["bytes-out"].flatMap(Int.init))

        for said in ["swordfish", "tuna", "wizard"] {
            XCTAssertFalse(server.logText.contains(said), "'\(said)' is in the log")
        }
    }

    /// JSON strings are escaped: a start that fails on a file whose name holds quotes and a tab still logs
    /// one valid JSON object naming it. (A backslash would be the endpoint syntax's escape.)
    func testJSONEscapesWhatItQuotes() throws {
        let directory = try makeTemporaryDirectory()
        let name = "odd \"name\"\there.pem"
        let result = try runSwitchboardBounded(
            ["serve", "--log-format", "json", "--database", "sqlite:db.sqlite",
             "--listen", "ssl:0:interface=127.0.0.1:privateKey=\(name):certKey=\(name)"],
            in: directory, deadline: 60)
        XCTAssertEqual(result.status, 1, result.output)
        let errorLine = try XCTUnwrap(result.output.split(separator: "\n").first { $0.contains("cannot use TLS file") })
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(errorLine.utf8)) as? [String: Any])
        XCTAssertEqual(object["message"] as? String, "cannot use TLS file \(name): No such file or directory")
        XCTAssertEqual(object["level"] as? String, "error")
    }

    /// The text format (the default) has the same two lines per connection, in swift-log's layout.
    func testTextLogsOneLinePerAcceptAndClose() throws {
        let directory = try makeTemporaryDirectory()
        let server = try ServerProcess.serve(database: "sqlite:db.sqlite", in: directory, logLevel: "info")
        defer { server.terminate() }
        let (client, _) = try joinClient(server)
        client.send("/quit\r\n")
        XCTAssertEqual(client.readUntilClosed(), ["* bye"])
        let log = try server.waitForLog(containing: "[SwitchboardChat] connection closed")
        XCTAssertEqual(log.components(separatedBy: "[SwitchboardChat] connection accepted").count - 1, 1)
        let closed = try XCTUnwrap(log.split(separator: "\n").first { $0.hasSuffix("[SwitchboardChat] connection closed") })
        XCTAssertTrue(closed.contains(" info switchboard: bytes-in=7 bytes-out="), String(closed))
        XCTAssertTrue(closed.contains(" lines-in=1 lines-out=2 nick=guest1 peer=127.0.0.1:\(client.localPort) reason=quit via=plain visitor=1 "),
                      String(closed))
    }

    static var iso8601: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }

    static func port(in log: String) -> Int? {
        guard let range = log.range(of: #""address":"127\.0\.0\.1:(\d+)""#, options: .regularExpression) else { return nil }
        return Int(log[range].dropFirst(#""address":"127.0.0.1:"#.count).prefix { $0.isNumber })
    }
}
