#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import XCTest
@testable import SwitchboardDatabase

/// The small pure pieces of storage: SHA-256, timestamps, database URLs and their redaction.
final class StorageValueTests: XCTestCase {
    /// SHA-256 matches the FIPS 180-4 test vectors, including a multi-block message.
    func testSHA256MatchesKnownVectors() {
        XCTAssertEqual(SHA256.hexDigest([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hexDigest(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            SHA256.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(
            SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000)),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    /// Timestamps render as ISO 8601 UTC with microseconds and parse back exactly, also before 1970.
    func testTimestampRoundTrips() {
        let moment = Timestamp(microsecondsSinceEpoch: 1_764_083_639_123_456)
        XCTAssertEqual(moment.iso8601, "2025-11-25T15:13:59.123456Z")
        XCTAssertEqual(moment.displayString, "2025-11-25 15:13:59")
        XCTAssertEqual(Timestamp(iso8601: moment.iso8601), moment)
        XCTAssertEqual(Timestamp(iso8601: "2025-11-25 15:13:59.123456+00"), moment, "PostgreSQL's text form")
        XCTAssertEqual(Timestamp(iso8601: "2025-11-25T15:13:59Z")?.microsecondsSinceEpoch, 1_764_083_639_000_000)
        let early = Timestamp(microsecondsSinceEpoch: -1_500_000)
        XCTAssertEqual(early.iso8601, "1969-12-31T23:59:58.500000Z")
        XCTAssertEqual(Timestamp(iso8601: early.iso8601), early)
        XCTAssertNil(Timestamp(iso8601: "yesterday"))
        XCTAssertNil(Timestamp(iso8601: "2025-11-25T15:13:59+02:00"), "only UTC is stored")
    }

    /// The calendar date and time a timestamp shows is the C library's (`gmtime_r`) for every instant tried:
    /// leap days, century years, year and month boundaries, before 1970, and 20 000 instants spread over
    /// years 1 to 9999.
    func testTimestampCalendarMatchesTheCLibrary() {
        func expected(_ micros: Int64) -> String {
            var seconds = time_t(micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            let fraction = micros - Int64(seconds) * 1_000_000
            func pad(_ value: Int32, _ width: Int) -> String {
                let digits = String(value)
                return String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
            return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
                + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(fraction), 6))Z"
        }
        let day: Int64 = 86_400_000_000
        var instants: [Int64] = [0, -1, 1, day - 1, -day, 951_782_400_000_000 /* 2000-02-29 */, 4_107_542_400_000_000 /* 2100-03-01 */]
        for boundary in [Int64(946_684_800_000_000) /* 2000-01-01 */, 1_709_164_800_000_000 /* 2024-02-29 */] {
            instants += [boundary - 1, boundary, boundary + day - 1]
        }
        var generator = SystemRandomNumberGenerator()
        let first: Int64 = -62_135_596_800_000_000  // 0001-01-01
        let last: Int64 = 253_402_300_799_999_999  // 9999-12-31T23:59:59.999999
        for _ in 0..<20_000 { instants.append(Int64.random(in: first...last, using: &generator)) }
        for micros in instants {
            XCTAssertEqual(Timestamp(microsecondsSinceEpoch: micros).iso8601, expected(micros), "at \(micros) µs")
        }
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: first).displayString, "0001-01-01 00:00:00")
        XCTAssertEqual(Timestamp(microsecondsSinceEpoch: last).displayString, "9999-12-31 23:59:59")
    }

    /// Database URLs: sqlite paths, libpq URIs, and a clear error for anything else.
    func testDatabaseURLParsing() throws {
        XCTAssertEqual(try DatabaseURL(parsing: "sqlite:chat.sqlite"), .sqlite(path: "chat.sqlite"))
        XCTAssertEqual(try DatabaseURL(parsing: "sqlite:///var/db/chat.sqlite"), .sqlite(path: "/var/db/chat.sqlite"))
        XCTAssertEqual(try DatabaseURL(parsing: "postgresql://u@h/db"), .postgres(try PostgresConnectionParameters(parsing: "postgresql://u@h/db")))
        guard case .postgres(let parameters) = try DatabaseURL(parsing: "postgresql://u@h/db") else { return XCTFail() }
        XCTAssertEqual(parameters.uri, "postgresql://u@h/db", "the URI as given is kept")
        XCTAssertEqual(parameters.host, "h")
        XCTAssertThrowsError(try DatabaseURL(parsing: "mysql://root:pw@h/db")) { error in
            let message = (error as? DatabaseError)?.message ?? ""
            XCTAssertTrue(message.contains("use sqlite:PATH or postgres://"), message)
            XCTAssertFalse(message.contains("pw"), message)
        }
        XCTAssertThrowsError(try DatabaseURL(parsing: "sqlite:"))
    }

    /// Passwords never survive redaction, in the user-info part or as a query parameter.
    func testRedactionHidesPasswords() {
        XCTAssertEqual(DatabaseURL.redact("postgres://chat:hunter2@db:5432/chat"), "postgres://chat:***@db:5432/chat")
        XCTAssertEqual(DatabaseURL.redact("postgres://chat:p@ss:w0rd@db/chat"), "postgres://chat:***@db/chat")
        XCTAssertEqual(DatabaseURL.redact("postgres://db/chat?user=u&password=hunter2&sslmode=require"),
                       "postgres://db/chat?user=u&password=***&sslmode=require")
        XCTAssertEqual(DatabaseURL.redact("postgres://chat@db/chat"), "postgres://chat@db/chat")
        XCTAssertEqual(try DatabaseURL(parsing: "postgres://a:b@c/d").description, "postgres://a:***@c/d")
    }
}

/// The one backoff: first, doubling, capped, never overflowing.
final class BackoffTests: XCTestCase {
    func testDoublesFromTheFirstUpToTheMaximum() {
        let backoff = Backoff(first: .milliseconds(100), maximum: .seconds(2))
        XCTAssertEqual((1...7).map { backoff.delay(afterFailures: $0) },
                       [100, 200, 400, 800, 1_600, 2_000, 2_000].map { TimeAmount.milliseconds($0) })
        XCTAssertEqual(backoff.delay(afterFailures: 0), .milliseconds(100), "no failure yet waits as the first")
        XCTAssertEqual(backoff.delay(afterFailures: 10_000), .seconds(2), "no overflow, however many")
    }
}
