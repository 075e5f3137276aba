import SwitchboardProtocol
import XCTest

/// `Nickname`: 1–32 of `A-Z a-z 0-9 _ -`, unique ignoring ASCII case.
final class NicknameTests: XCTestCase {
    /// Letters, digits, underscore and hyphen, in any mix, are valid.
    func testLettersDigitsUnderscoreAndHyphenAreValid() {
        for name in ["alice", "Bob", "BOB", "guest42", "a_b", "a-b", "_", "-", "0", "__init__", "-x-", "Z9_-"] {
            XCTAssertNil(Nickname.problem(with: name), name)
        }
    }

    /// Every allowed character is accepted on its own (the whole alphabet, nothing missing).
    func testEveryAllowedCharacterIsAccepted() {
        let allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        for character in allowed {
            XCTAssertNil(Nickname.problem(with: String(character)), String(character))
        }
    }

    /// Exactly 32 characters is the longest valid nickname.
    func testThirtyTwoCharactersAreAccepted() {
        XCTAssertEqual(Nickname.maximumLength, 32)
        XCTAssertNil(Nickname.problem(with: String(repeating: "a", count: 32)))
    }

    /// 33 characters are rejected as too long.
    func testThirtyThreeCharactersAreRejected() {
        XCTAssertEqual(Nickname.problem(with: String(repeating: "a", count: 33)), "nickname too long (max 32 characters)")
    }

    /// The empty nickname is rejected.
    func testEmptyIsRejected() {
        XCTAssertEqual(Nickname.problem(with: ""), "a nickname cannot be empty")
    }

    /// Spaces anywhere are rejected, with a reason that names the nickname and the rule.
    func testSpacesAreRejected() {
        for name in ["a b", " a", "a ", " ", "a\tb"] {
            XCTAssertEqual(
                Nickname.problem(with: name),
                "invalid nickname '\(name)': use 1-32 of A-Z a-z 0-9 _ -",
                name.debugDescription
            )
        }
    }

    /// Non-ASCII letters, look-alikes (Cyrillic а), CJK, emoji and combining marks are rejected.
    func testUnicodeIsRejected() {
        for name in ["ålice", "\u{430}lice", "名前", "👋", "e\u{301}", "ａｌｉｃｅ", "bob\u{200B}", "\u{FFFD}"] {
            XCTAssertNotNil(Nickname.problem(with: name), name.debugDescription)
        }
    }

    /// Every ASCII punctuation mark other than `_` and `-` is rejected.
    func testPunctuationIsRejected() {
        for character in ##"!"#$%&'()*+,./:;<=>?@[\]^`{|}~"## {
            XCTAssertNotNil(Nickname.problem(with: "a\(character)b"), String(character))
        }
    }

    /// Control characters (ESC, NUL, CR, LF, DEL) are rejected.
    func testControlCharactersAreRejected() {
        for name in ["a\u{1B}[2J", "a\u{0}", "a\r", "a\n", "a\u{7F}"] {
            XCTAssertNotNil(Nickname.problem(with: name), name.debugDescription)
        }
    }

    /// Every problem for a sanitised name (no controls reach here) is a single line, fit for a `! …` reply.
    func testProblemsAreOneLine() {
        for name in ["", String(repeating: "x", count: 40), "a b", "b@d!", "ålice"] {
            XCTAssertEqual(Nickname.problem(with: name)?.contains(where: \.isNewline), false, name.debugDescription)
        }
    }

    /// The key lowercases ASCII letters and leaves digits, `_` and `-` alone.
    func testKeyIsASCIILowercase() {
        XCTAssertEqual(Nickname.key("AlIcE_42-X"), "alice_42-x")
        XCTAssertEqual(Nickname.key("bob"), "bob")
        XCTAssertEqual(Nickname.key("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "abcdefghijklmnopqrstuvwxyz")
    }

    /// Nicknames that differ only in case share a key; different nicknames do not.
    func testKeysMatchIgnoringCaseOnly() {
        XCTAssertEqual(Nickname.key("Alice"), Nickname.key("aLICE"))
        XCTAssertNotEqual(Nickname.key("a_b"), Nickname.key("a-b"))
        XCTAssertNotEqual(Nickname.key("alice"), Nickname.key("alice2"))
    }

    /// The key lowercases ASCII only: non-ASCII letters are untouched (they are never valid nicknames anyway).
    func testKeyLeavesNonASCIIAlone() {
        XCTAssertEqual(Nickname.key("ÄB"), "Äb")
        XCTAssertEqual(Nickname.key("İ"), "İ")
    }

    /// Guest names: `guest<visitor>` (or `guest-<connection>` without a number), then `-2`, `-3`, …; a name
    /// is a guest name for its base only with a numeric suffix.
    func testGuestNames() {
        XCTAssertEqual(GuestName.base(visitor: 42, connection: 7), "guest42")
        XCTAssertEqual(GuestName.base(visitor: nil, connection: 7), "guest-7")
        XCTAssertEqual((1...3).map { GuestName.candidate("guest42", attempt: $0) }, ["guest42", "guest42-2", "guest42-3"])
        XCTAssertTrue(GuestName.isGuestName("guest42", base: "guest42"))
        XCTAssertTrue(GuestName.isGuestName("guest42-3", base: "guest42"))
        XCTAssertFalse(GuestName.isGuestName("guest42-cool", base: "guest42"), "a name someone chose")
        XCTAssertFalse(GuestName.isGuestName("guest420", base: "guest42"))
    }

    /// The key folds ASCII capitals only, and is the name itself when there are none.
    func testTheKeyFoldsCapitalsAndLeavesEverythingElse() {
        XCTAssertEqual(Nickname.key("Alice_99-X"), "alice_99-x")
        XCTAssertEqual(Nickname.key("bob"), "bob")
        XCTAssertEqual(Nickname.key("ÉCOLE"), "École", "only ASCII capitals fold")
        XCTAssertEqual(Nickname.key(""), "")
    }
}
