import XCTest
@testable import SwitchboardModeration

/// scrypt hashes: a round trip, a salt per hash, and no input (an empty or long password, a malformed or
/// hostile stored hash) that crashes or matches by accident.
final class PasswordHashTests: XCTestCase {
    /// Cheap parameters (N = 2^10) keep these tests fast; the format and checks are the same.
    private let cheap = PasswordHash.Parameters(logRounds: 10, blockSize: 8, parallelism: 1)

    /// The right password matches, a wrong one (or one differing only in case or a trailing space) does not.
    func testRightPasswordMatchesAndWrongOnesDoNot() throws {
        let hash = try PasswordHash.make("correct horse", parameters: cheap)
        XCTAssertTrue(PasswordHash.verify("correct horse", against: hash))
        for wrong in ["correct Horse", "correct horse ", "correct hors", "x", String(repeating: "a", count: 256)] {
            XCTAssertFalse(PasswordHash.verify(wrong, against: hash), wrong)
        }
    }

    /// Each hash has its own salt, carries its parameters, and does not contain the password.
    func testHashesAreSaltedAndSelfDescribing() throws {
        let first = try PasswordHash.make("hunter2", parameters: cheap)
        let second = try PasswordHash.make("hunter2", parameters: cheap)
        XCTAssertNotEqual(first, second)
        XCTAssertTrue(first.hasPrefix("scrypt$10$8$1$"), first)
        XCTAssertEqual(PasswordHash.parameters(of: first), cheap)
        XCTAssertFalse(first.contains("hunter2"))
        XCTAssertTrue(PasswordHash.verify("hunter2", against: second))
    }

    /// The default parameters are the documented ones and work.
    func testDefaultParameters() throws {
        let hash = try PasswordHash.make("s3cret")
        XCTAssertEqual(PasswordHash.parameters(of: hash), PasswordHash.Parameters(logRounds: 15, blockSize: 8, parallelism: 1))
        XCTAssertTrue(PasswordHash.verify("s3cret", against: hash))
    }

    /// Empty and over-long passwords are refused when hashing and never match when checking.
    func testEmptyAndOverlongPasswordsAreRefused() throws {
        XCTAssertThrowsError(try PasswordHash.make("", parameters: cheap)) { XCTAssertEqual($0 as? PasswordError, .empty) }
        let long = String(repeating: "p", count: PasswordHash.maximumPasswordBytes + 1)
        XCTAssertThrowsError(try PasswordHash.make(long, parameters: cheap)) { XCTAssertEqual($0 as? PasswordError, .tooLong) }
        let hash = try PasswordHash.make("p", parameters: cheap)
        XCTAssertFalse(PasswordHash.verify("", against: hash))
    }

    /// Malformed stored hashes, and ones whose parameters would cost gigabytes or minutes (a row edited in
    /// the database), never match and never crash.
    func testMalformedOrHostileHashesNeverMatch() throws {
        let good = try PasswordHash.make("pw", parameters: cheap)
        let parts = good.split(separator: "$").map(String.init)
        let hostile = [
            "", "scrypt", "scrypt$$$$$", "bcrypt$10$8$1$\(parts[4])$\(parts[5])",
            "scrypt$30$8$1$\(parts[4])$\(parts[5])",  // 2^30 rounds: 128 GiB
            "scrypt$10$9999$1$\(parts[4])$\(parts[5])", "scrypt$10$8$0$\(parts[4])$\(parts[5])",
            "scrypt$-1$8$1$\(parts[4])$\(parts[5])", "scrypt$10$8$1$!!!$\(parts[5])",
            "scrypt$10$8$1$\(parts[4])$AAAA", "scrypt$10$8$1$$\(parts[5])", good + "$extra",
        ]
        for encoded in hostile {
            XCTAssertFalse(PasswordHash.verify("pw", against: encoded), encoded)
        }
        XCTAssertThrowsError(try PasswordHash.make("pw", parameters: .init(logRounds: 30, blockSize: 8, parallelism: 1)))
    }

    /// Errors describe the problem without the password.
    func testErrorsNeverHoldThePassword() {
        let long = "secret-" + String(repeating: "z", count: 300)
        XCTAssertThrowsError(try PasswordHash.make(long)) { error in
            XCTAssertFalse("\(error)".contains("secret"), "\(error)")
        }
    }
}
