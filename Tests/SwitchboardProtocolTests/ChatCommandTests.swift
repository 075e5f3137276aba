import SwitchboardProtocol
import XCTest

/// `ChatCommand.parse`: every command in the chat contract, its arguments, usage errors and the edge cases.
final class ChatCommandTests: XCTestCase {
    // MARK: chat lines

    /// A line not starting with `/` is said as it is.
    func testPlainLineIsSaid() {
        XCTAssertEqual(ChatCommand.parse("hello"), .say("hello"))
        XCTAssertEqual(ChatCommand.parse("hello  world "), .say("hello  world "))
        XCTAssertEqual(ChatCommand.parse("a/b"), .say("a/b"))
        XCTAssertEqual(ChatCommand.parse(" /nick bob"), .say(" /nick bob"))
    }

    /// A doubled slash sends a line that starts with one slash.
    func testDoubledSlashSaysALiteralSlash() {
        XCTAssertEqual(ChatCommand.parse("//text"), .say("/text"))
        XCTAssertEqual(ChatCommand.parse("//nick bob"), .say("/nick bob"))
        XCTAssertEqual(ChatCommand.parse("//"), .say("/"))
        XCTAssertEqual(ChatCommand.parse("///"), .say("//"))
    }

    /// An empty or blank line (spaces, tabs) does nothing.
    func testBlankLineIsEmpty() {
        for line in ["", " ", "   ", "\t", " \t  "] {
            XCTAssertEqual(ChatCommand.parse(line), .empty, line.debugDescription)
        }
    }

    // MARK: commands

    /// `/nick NAME` asks for a new nickname; validity is `Nickname`'s job.
    func testNickTakesOneName() {
        XCTAssertEqual(ChatCommand.parse("/nick bob"), .nick("bob"))
        XCTAssertEqual(ChatCommand.parse("/nick   bob   "), .nick("bob"))
        XCTAssertEqual(ChatCommand.parse("/nick b@d!"), .nick("b@d!"))
    }

    /// `/nick` with no name or with two words gives its usage, which says what a valid name is.
    func testNickWithoutOneNameGivesUsageThatSaysWhatANameIs() {
        for line in ["/nick", "/nick   ", "/nick bob smith", "/nick\tbad name"] {
            XCTAssertEqual(ChatCommand.parse(line), .usage("/nick NAME (1-32 of A-Z a-z 0-9 _ -)"), line)
        }
    }

    /// The `/nick` usage, the `/help` line and `Nickname.problem` describe a valid name in the same words.
    func testNickUsageHelpAndProblemAgreeOnTheRule() {
        XCTAssertEqual(Nickname.rule, "1-32 of A-Z a-z 0-9 _ -")
        guard case .usage(let usage) = ChatCommand.parse("/nick a b") else { return XCTFail("not a usage") }
        XCTAssertTrue(usage.hasSuffix("(\(Nickname.rule))"), usage)
        XCTAssertTrue(Nickname.problem(with: "a b")?.hasSuffix(Nickname.rule) ?? false)
        XCTAssertTrue(ChatCommand.helpLines.contains { $0.hasPrefix("/nick") && $0.contains(Nickname.rule) })
    }

    /// `/who` lists who is connected (`/names` is an alias); arguments are ignored.
    func testWho() {
        XCTAssertEqual(ChatCommand.parse("/who"), .who)
        XCTAssertEqual(ChatCommand.parse("/names"), .who)
        XCTAssertEqual(ChatCommand.parse("/who everyone"), .who)
    }

    /// `/count` asks for the counts.
    func testCount() {
        XCTAssertEqual(ChatCommand.parse("/count"), .count)
        XCTAssertEqual(ChatCommand.parse("/count "), .count)
    }

    /// `/me ACTION` keeps the action's inner spacing and trims the ends.
    func testMeKeepsTheAction() {
        XCTAssertEqual(ChatCommand.parse("/me waves"), .me("waves"))
        XCTAssertEqual(ChatCommand.parse("/me   waves  at   everyone  "), .me("waves  at   everyone"))
    }

    /// `/me` with no action gives its usage.
    func testMeWithoutActionGivesUsage() {
        XCTAssertEqual(ChatCommand.parse("/me"), .usage("/me ACTION"))
        XCTAssertEqual(ChatCommand.parse("/me    "), .usage("/me ACTION"))
    }

    /// `/msg NICK TEXT` is a private message; `/tell` is an alias.
    func testMsgIsAPrivateMessage() {
        XCTAssertEqual(ChatCommand.parse("/msg bob hi"), .privateMessage(to: "bob", text: "hi"))
        XCTAssertEqual(ChatCommand.parse("/tell bob hi"), .privateMessage(to: "bob", text: "hi"))
    }

    /// The spaces between nick and text are dropped, the text's own spacing is kept, its end is trimmed.
    func testMsgKeepsTheTextsOwnSpacing() {
        XCTAssertEqual(ChatCommand.parse("/msg bob  hello world"), .privateMessage(to: "bob", text: "hello world"))
        XCTAssertEqual(ChatCommand.parse("/msg   bob hello   world  "), .privateMessage(to: "bob", text: "hello   world"))
        XCTAssertEqual(ChatCommand.parse("/msg bob /not a command"), .privateMessage(to: "bob", text: "/not a command"))
    }

    /// `/msg` without a nick or without text gives its usage.
    func testMsgWithoutNickOrTextGivesUsage() {
        for line in ["/msg", "/msg ", "/msg bob", "/msg bob    ", "/tell bob"] {
            XCTAssertEqual(ChatCommand.parse(line), .usage("/msg NICK TEXT"), line)
        }
    }

    /// `/history` shows the default 20 lines, with no note.
    func testHistoryDefaultsToTwenty() {
        XCTAssertEqual(ChatCommand.parse("/history"), .history(20, note: nil))
        XCTAssertEqual(ChatCommand.parse("/history   "), .history(20, note: nil))
        XCTAssertEqual(ChatCommand.defaultHistoryCount, 20)
    }

    /// `/history N` shows N lines, from 1 up to 200, with no note.
    func testHistoryTakesACount() {
        XCTAssertEqual(ChatCommand.parse("/history 1"), .history(1, note: nil))
        XCTAssertEqual(ChatCommand.parse("/history 50"), .history(50, note: nil))
        XCTAssertEqual(ChatCommand.parse("/history 200"), .history(200, note: nil))
        XCTAssertEqual(ChatCommand.parse("/history  7 "), .history(7, note: nil))
        XCTAssertEqual(ChatCommand.parse("/history 007"), .history(7, note: nil))
    }

    /// A count above 200 (even one too big for `Int`) shows 200, with a note saying so.
    func testHistoryCountAboveTheMaximumIsClampedWithANote() {
        let note = "* /history shows 1 to 200 lines; showing 200"
        XCTAssertEqual(ChatCommand.parse("/history 201"), .history(200, note: note))
        XCTAssertEqual(ChatCommand.parse("/history 500"), .history(200, note: note))
        XCTAssertEqual(ChatCommand.parse("/history 1000000"), .history(200, note: note))
        XCTAssertEqual(ChatCommand.parse("/history 99999999999999999999999"), .history(200, note: note))
        XCTAssertEqual(ChatCommand.maximumHistoryCount, 200)
    }

    /// `/history 0` is handled like `/history 500`: clamped into 1...200 (to 1), with a note, not a usage error.
    func testHistoryZeroIsClampedToOneWithANote() {
        let note = "* /history shows 1 to 200 lines; showing 1"
        XCTAssertEqual(ChatCommand.parse("/history 0"), .history(1, note: note))
        XCTAssertEqual(ChatCommand.parse("/history 000"), .history(1, note: note))
    }

    /// Anything but digits (a sign, letters, a fraction, two numbers) gives the usage with the valid range.
    func testHistoryWithANonNumberGivesUsage() {
        for line in ["/history -3", "/history +3", "/history x", "/history abc", "/history 5x", "/history 1 2",
                     "/history 2.5", "/history \u{0663}", "/history \u{FF15}"] {
            XCTAssertEqual(ChatCommand.parse(line), .usage("/history [N] (N from 1 to 200)"), line)
        }
    }

    /// `/seen NICK` asks when someone was last here.
    func testSeenTakesOneNick() {
        XCTAssertEqual(ChatCommand.parse("/seen bob"), .seen("bob"))
        XCTAssertEqual(ChatCommand.parse("/seen  bob  "), .seen("bob"))
    }

    /// `/seen` with no nick or with two words gives its usage.
    func testSeenWithoutOneNickGivesUsage() {
        XCTAssertEqual(ChatCommand.parse("/seen"), .usage("/seen NICK"))
        XCTAssertEqual(ChatCommand.parse("/seen bob carol"), .usage("/seen NICK"))
    }

    /// `/quit` leaves with no reason; `/quit REASON` keeps the reason's spacing; `/exit` is an alias.
    func testQuitWithAndWithoutReason() {
        XCTAssertEqual(ChatCommand.parse("/quit"), .quit(reason: nil))
        XCTAssertEqual(ChatCommand.parse("/quit   "), .quit(reason: nil))
        XCTAssertEqual(ChatCommand.parse("/quit gone  fishing "), .quit(reason: "gone  fishing"))
        XCTAssertEqual(ChatCommand.parse("/exit"), .quit(reason: nil))
    }

    /// `/help` (and `/?`) asks for the command list.
    func testHelp() {
        XCTAssertEqual(ChatCommand.parse("/help"), .help)
        XCTAssertEqual(ChatCommand.parse("/?"), .help)
        XCTAssertEqual(ChatCommand.parse("/help nick"), .help)
    }

    /// `/help` has one line per contract command, each starting with the command.
    func testHelpListsEveryContractCommand() {
        for command in ["/nick", "/who", "/count", "/me", "/msg", "/history", "/seen", "/quit", "/help", "//text"] {
            XCTAssertEqual(ChatCommand.helpLines.filter { $0.split(separator: " ").first == command[...] }.count, 1, command)
        }
        XCTAssertTrue(ChatCommand.helpLines.contains { $0.contains("default 20, max 200") })
    }

    // MARK: names and spacing

    /// Command names are case-insensitive; arguments keep their case.
    func testCommandNamesAreCaseInsensitive() {
        XCTAssertEqual(ChatCommand.parse("/NICK Bob"), .nick("Bob"))
        XCTAssertEqual(ChatCommand.parse("/Who"), .who)
        XCTAssertEqual(ChatCommand.parse("/MSG Bob Hi There"), .privateMessage(to: "Bob", text: "Hi There"))
        XCTAssertEqual(ChatCommand.parse("/HiStOrY 5"), .history(5, note: nil))
        XCTAssertEqual(ChatCommand.parse("/QUIT Bye"), .quit(reason: "Bye"))
    }

    /// A tab separates a command from its argument like a space does.
    func testTabSeparatesArguments() {
        XCTAssertEqual(ChatCommand.parse("/nick\tbob"), .nick("bob"))
        XCTAssertEqual(ChatCommand.parse("/msg\tbob\thi"), .privateMessage(to: "bob", text: "hi"))
    }

    /// An unknown command is reported by its name as typed, without the slash or arguments.
    func testUnknownCommandIsNamed() {
        XCTAssertEqual(ChatCommand.parse("/frobnicate"), .unknown("frobnicate"))
        XCTAssertEqual(ChatCommand.parse("/Frob now please"), .unknown("Frob"))
        XCTAssertEqual(ChatCommand.parse("/nickname bob"), .unknown("nickname"))
        XCTAssertEqual(ChatCommand.parse("/ nick"), .unknown(""))
    }

    /// The examples in the type's doc comment hold.
    func testDocCommentExamples() {
        XCTAssertEqual(ChatCommand.parse("hello"), .say("hello"))
        XCTAssertEqual(ChatCommand.parse("//not a command"), .say("/not a command"))
        XCTAssertEqual(ChatCommand.parse("/nick bob"), .nick("bob"))
        XCTAssertEqual(ChatCommand.parse("/msg bob hi"), .privateMessage(to: "bob", text: "hi"))
        XCTAssertEqual(ChatCommand.parse("/history 50"), .history(50, note: nil))
        XCTAssertEqual(ChatCommand.parse("/history 500"), .history(200, note: "* /history shows 1 to 200 lines; showing 200"))
        XCTAssertEqual(ChatCommand.parse("/frobnicate"), .unknown("frobnicate"))
        XCTAssertEqual(ChatCommand.parse("/msg bob"), .usage("/msg NICK TEXT"))
        XCTAssertEqual(ChatCommand.parse("/nick bob smith"), .usage("/nick NAME (1-32 of A-Z a-z 0-9 _ -)"))
    }
}
