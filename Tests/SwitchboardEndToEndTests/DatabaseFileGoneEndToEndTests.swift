import Foundation
import XCTest

/// The SQLite file deleted under a running server: nothing is written into the void, and the log says so.
final class DatabaseFileGoneEndToEndTests: XCTestCase {
    /// Deleting the database file while serving: chat goes on, the error log names the path and what to do,
    /// the events stay queued, and the log never claims `history written` for them.
    func testDeletedDatabaseFileIsReportedAndNeverWrittenTo() async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("history.sqlite").path
        let server = try await InProcessServer.start(database: "sqlite:\(path)", for: self) {
            $0.shutdownTimeout = .seconds(2)
            $0.chat.floodRate = 0
        }
        let (alice, _) = try server.join()
        let (bob, _) = try server.join()
        _ = alice.readLine()  // bob joined

        try FileManager.default.removeItem(atPath: path)
        for n in 1...5 { alice.send("into the void \(n)\r\n") }
        for n in 1...5 { bob.expect("<guest1> into the void \(n)") }
        let log = try server.waitForLog(containing: "HISTORY IS NOT BEING WRITTEN", timeout: 10)
        let line = log.split(separator: "\n").first { $0.contains("HISTORY IS NOT BEING WRITTEN") } ?? ""
        XCTAssertTrue(line.contains("the database file \(path) was deleted or moved away"), String(line))
        XCTAssertTrue(line.contains("restart the server"), String(line))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "no fresh, empty database was created")

        await server.stop(mayTimeOut: true)
        XCTAssertFalse(server.log.text.contains("history written"), server.log.text)
        XCTAssertTrue(
            server.log.text.contains("history not all written before --shutdown-timeout; the rest is in the spool"),
            "what could not be written goes to the spool: \(server.log.text)")
    }

    /// A database file moved away and back: nothing is written while it is gone, and once it is back the
    /// queued lines are written to it.
    func testMovedAwayAndBackResumesWriting() async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("history.sqlite").path
        let server = try await InProcessServer.start(database: "sqlite:\(path)", for: self) { $0.chat.floodRate = 0 }
        let (alice, _) = try server.join()
        try FileManager.default.moveItem(atPath: path, toPath: path + ".away")
        alice.send("while away\r\n")
        try server.waitForLog(containing: "HISTORY IS NOT BEING WRITTEN", timeout: 10)
        try FileManager.default.moveItem(atPath: path + ".away", toPath: path)
        alice.send("/history\r\n")  // waits until the queued line is written
        let history = alice.readLines(until: { $0 == "* end of history" }, timeout: 30)
        XCTAssertTrue(history.contains { $0.hasSuffix("<guest1> while away") }, "\(history)")
        await server.stop()
        XCTAssertTrue(server.log.text.contains("history written"), server.log.text)
    }
}
