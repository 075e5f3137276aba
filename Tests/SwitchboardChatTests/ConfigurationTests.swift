import NIOCore
import SwitchboardChat
import SwitchboardDatabase
import XCTest

/// ``ServerConfiguration/validate()``: the one check of the values, for the CLI and library callers alike.
final class ConfigurationTests: XCTestCase {
    /// The defaults are valid.
    func testDefaultsAreValid() throws {
        XCTAssertNoThrow(try ServerConfiguration().validate())
    }

    /// `--max-line` means the same on PostgreSQL as on SQLite, up to 65536: a line too large for one NOTIFY
    /// reaches the other servers through a table.
    func testTheLongestLineIsAcceptedOnPostgreSQLToo() throws {
        var configuration = ServerConfiguration()
        configuration.database = try DatabaseURL(parsing: "postgres://postgres@127.0.0.1:5432/chat")
        configuration.chat.maximumLineLength = 65_536
        XCTAssertNoThrow(try configuration.validate())
        configuration.chat.maximumLineLength = 65_537
        XCTAssertThrowsError(try configuration.validate())
    }

    /// Each out-of-range value is refused with one line naming the option and its range.
    func testOutOfRangeValuesAreRefusedWithTheirRange() {
        func message(_ change: (inout ServerConfiguration) -> Void) -> String? {
            var configuration = ServerConfiguration()
            change(&configuration)
            do {
                try configuration.validate()
                return nil
            } catch {
                return error.description
            }
        }
        XCTAssertEqual(message { $0.chat.maximumLineLength = 0 }, "--max-line must be from 16 to 65536")
        XCTAssertEqual(message { $0.chat.floodRate = -1 }, "--flood-rate must be 0 (no flood control) or more")
        XCTAssertEqual(message { $0.chat.floodRate = .infinity }, "--flood-rate must be 0 (no flood control) or more")
        XCTAssertEqual(message { $0.chat.maximumClients = 0 }, "--max-clients must be 1 or more")
        XCTAssertEqual(message { $0.chat.noticeRate = -1 }, "--notice-rate must be 0 (always name) or more")
        XCTAssertEqual(message { $0.databaseThreads = 0 }, "--db-threads must be from 1 to 64")
        XCTAssertEqual(message { $0.shutdownTimeout = .zero }, "--shutdown-timeout must be more than 0")
        XCTAssertEqual(message { $0.endpoints = [] }, "at least one --listen endpoint is needed")
    }
}
