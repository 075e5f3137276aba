import SwitchboardProtocol
import XCTest

/// The shapes of command arguments, parsed purely.
final class CommandArgumentTests: XCTestCase {
    /// One word: a name for `/nick` or `/seen`; not empty, nothing after it.
    func testWordIsOneWord() {
        XCTAssertEqual(CommandArgument.word("bob"), "bob")
        XCTAssertEqual(CommandArgument.word("b@d!"), "b@d!", "what a name may be is the roster's rule, not the parser's")
        XCTAssertNil(CommandArgument.word(""))
        XCTAssertNil(CommandArgument.word("bob smith"))
        XCTAssertNil(CommandArgument.word("bob\tsmith"))
    }

    /// Text: anything but nothing.
    func testTextIsAnythingButNothing() {
        XCTAssertEqual(CommandArgument.text("gone  fishing"), "gone  fishing")
        XCTAssertNil(CommandArgument.text(""))
    }

    /// A target and its text, the text's own spacing kept (a slash in it is just text).
    func testTargetAndText() {
        XCTAssertEqual(CommandArgument.targetAndText("bob hi")?.target, "bob")
        XCTAssertEqual(CommandArgument.targetAndText("bob hi")?.text, "hi")
        XCTAssertEqual(CommandArgument.targetAndText("bob  hello world")?.text, "hello world")
        XCTAssertEqual(CommandArgument.targetAndText("bob hello   world")?.text, "hello   world")
        XCTAssertEqual(CommandArgument.targetAndText("bob /not a command")?.text, "/not a command")
        XCTAssertEqual(CommandArgument.targetAndText("bob\thi")?.text, "hi")
        XCTAssertNil(CommandArgument.targetAndText(""))
        XCTAssertNil(CommandArgument.targetAndText("bob"))
    }

    /// `/history` shows the default 20 lines, with no note; N from 1 up to 200 as asked.
    func testHistoryCountDefaultsToTwentyAndTakesACount() {
        XCTAssertEqual(CommandArgument.historyCount("")?.count, 20)
        XCTAssertNil(CommandArgument.historyCount("")?.note ?? nil)
        XCTAssertEqual(CommandArgument.defaultHistoryCount, 20)
        for (text, count) in [("1", 1), ("50", 50), ("200", 200), ("007", 7)] {
            XCTAssertEqual(CommandArgument.historyCount(text)?.count, count, text)
            XCTAssertNil(CommandArgument.historyCount(text)?.note ?? nil, text)
        }
    }

    /// A count above 200 (even one too big for `Int`) shows 200, and 0 shows 1, with a note saying so.
    func testHistoryCountOutOfRangeIsClampedWithANote() {
        let note = "* /history shows 1 to 200 lines; showing 200"
        for text in ["201", "500", "1000000", "99999999999999999999999"] {
            XCTAssertEqual(CommandArgument.historyCount(text)?.count, 200, text)
            XCTAssertEqual(CommandArgument.historyCount(text)?.note, note, text)
        }
        XCTAssertEqual(CommandArgument.maximumHistoryCount, 200)
        for text in ["0", "000"] {
            XCTAssertEqual(CommandArgument.historyCount(text)?.count, 1, text)
            XCTAssertEqual(CommandArgument.historyCount(text)?.note, "* /history shows 1 to 200 lines; showing 1", text)
        }
    }

    /// Anything but digits (a sign, letters, a fraction, two numbers, other scripts' digits) is no count.
    func testHistoryCountNeedsDigits() {
        for text in ["-3", "+3", "x", "abc", "5x", "1 2", "2.5", "\u{0663}", "\u{FF15}"] {
            XCTAssertNil(CommandArgument.historyCount(text), text)
        }
    }
}
