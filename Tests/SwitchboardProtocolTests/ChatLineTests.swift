import SwitchboardProtocol
import XCTest

/// How a line is read before any command runs: text, a command's name and argument, or nothing.
final class ChatLineTests: XCTestCase {
    /// A line not starting with `/` is said as is.
    func testPlainLineIsSaid() {
        XCTAssertEqual(ChatLine.parse("hello"), .say("hello"))
        XCTAssertEqual(ChatLine.parse("hello  world "), .say("hello  world "))
        XCTAssertEqual(ChatLine.parse("a/b"), .say("a/b"))
        XCTAssertEqual(ChatLine.parse(" /nick bob"), .say(" /nick bob"))
    }

    /// `//text` says `/text`.
    func testDoubledSlashSaysALiteralSlash() {
        XCTAssertEqual(ChatLine.parse("//text"), .say("/text"))
        XCTAssertEqual(ChatLine.parse("//nick bob"), .say("/nick bob"))
        XCTAssertEqual(ChatLine.parse("//"), .say("/"))
        XCTAssertEqual(ChatLine.parse("///"), .say("//"))
    }

    /// An empty or blank line does nothing.
    func testBlankLineIsEmpty() {
        for line in ["", " ", "   ", "\t", " \t "] {
            XCTAssertEqual(ChatLine.parse(line), .empty, line.debugDescription)
        }
    }

    /// A command's name is lowercased for lookup and kept as typed; its argument is trimmed and otherwise
    /// kept, spacing inside included.
    func testCommandNameAndArgument() {
        XCTAssertEqual(ChatLine.parse("/nick bob"), .command(name: "nick", typed: "nick", argument: "bob"))
        XCTAssertEqual(ChatLine.parse("/nick   bob   "), .command(name: "nick", typed: "nick", argument: "bob"))
        XCTAssertEqual(ChatLine.parse("/MSG Bob Hi There"), .command(name: "msg", typed: "MSG", argument: "Bob Hi There"))
        XCTAssertEqual(ChatLine.parse("/me   waves  at   everyone  "), .command(name: "me", typed: "me", argument: "waves  at   everyone"))
        XCTAssertEqual(ChatLine.parse("/who"), .command(name: "who", typed: "who", argument: ""))
        XCTAssertEqual(ChatLine.parse("/Frob now please"), .command(name: "frob", typed: "Frob", argument: "now please"))
        XCTAssertEqual(ChatLine.parse("/ nick"), .command(name: "", typed: "", argument: "nick"))
    }

    /// A tab separates a command from its argument like a space does.
    func testTabSeparatesArguments() {
        XCTAssertEqual(ChatLine.parse("/nick\tbob"), .command(name: "nick", typed: "nick", argument: "bob"))
        XCTAssertEqual(ChatLine.parse("/msg\tbob\thi"), .command(name: "msg", typed: "msg", argument: "bob\thi"))
    }

    /// The examples in the type's doc comment hold.
    func testDocCommentExamples() {
        XCTAssertEqual(ChatLine.parse("hello"), .say("hello"))
        XCTAssertEqual(ChatLine.parse("//not a command"), .say("/not a command"))
        XCTAssertEqual(ChatLine.parse("/nick bob"), .command(name: "nick", typed: "nick", argument: "bob"))
        XCTAssertEqual(ChatLine.parse("/MSG Bob  Hi there"), .command(name: "msg", typed: "MSG", argument: "Bob  Hi there"))
        XCTAssertEqual(ChatLine.parse("  "), .empty)
    }
}
