@testable import SwitchboardChat
import SwitchboardProtocol
import XCTest

/// The command table: every command once, `/help` generated from it, usage lines that say the rule.
final class ChatCommandsTests: XCTestCase {
    /// The contract's commands and their aliases are in the table, each name once.
    func testEveryContractCommandAndAliasIsInTheTable() {
        for name in ["nick", "who", "names", "count", "me", "msg", "tell", "history", "seen", "quit", "exit", "help", "?"] {
            XCTAssertNotNil(ChatCommands.byName[name], name)
        }
        let names = ChatCommands.table.flatMap(\.names)
        XCTAssertEqual(names.count, Set(names).count, "a name is one command's")
        XCTAssertEqual(ChatCommands.byName["names"]?.usage, "/who")
        XCTAssertEqual(ChatCommands.byName["tell"]?.usage, "/msg NICK TEXT")
        XCTAssertEqual(ChatCommands.byName["exit"]?.usage, "/quit [REASON]")
        XCTAssertEqual(ChatCommands.byName["?"]?.usage, "/help")
    }

    /// `/help` has one line per command, each starting with its usage, plus `//text`; the nick line, its
    /// usage error and the roster's problem all state the same rule.
    func testHelpIsGeneratedFromTheTable() {
        for command in ["/nick", "/who", "/count", "/me", "/msg", "/history", "/seen", "/quit", "/help", "//text"] {
            XCTAssertEqual(ChatCommands.helpLines.filter { $0.split(separator: " ").first == command[...] }.count, 1, command)
        }
        XCTAssertEqual(ChatCommands.helpLines.count, ChatCommands.table.filter { !$0.operatorOnly }.count + 1)
        // Operators see everyone's lines, then theirs; others never see an operator's command.
        let operatorOnly = ChatCommands.table.filter(\.operatorOnly).map(\.usage)
        XCTAssertTrue(operatorOnly.contains("/kick NICK [REASON]") && operatorOnly.contains("/ban NICK|ADDRESS|CIDR [--nick] [DURATION] [REASON]"))
        XCTAssertFalse(ChatCommands.helpLines.contains { line in operatorOnly.contains { line.hasPrefix($0) } })
        XCTAssertEqual(ChatCommands.operatorHelpLines.count, ChatCommands.table.count + 1)
        XCTAssertEqual(Array(ChatCommands.operatorHelpLines.prefix(ChatCommands.helpLines.count)), ChatCommands.helpLines)
        XCTAssertTrue(ChatCommands.operatorHelpLines.last?.hasSuffix("(operators)") == true)
        XCTAssertTrue(ChatCommands.helpLines.contains { $0.hasPrefix("/oper NAME PASSWORD") }, "anyone may try /oper")
        XCTAssertTrue(ChatCommands.helpLines.contains { $0.contains("default 20, max 200") })
        XCTAssertTrue(ChatCommands.helpLines.contains { $0.hasPrefix("/nick") && $0.contains(Nickname.rule) })
        XCTAssertEqual(ChatCommands.byName["nick"]?.usageError, "/nick NAME [PASSWORD] (1-32 of A-Z a-z 0-9 _ -)")
        XCTAssertTrue(Nickname.problem(with: "a b")?.hasSuffix(Nickname.rule) ?? false)
        XCTAssertEqual(
            ChatCommands.helpLines.first,
            "/nick NAME [PASSWORD] change your nickname (1-32 of A-Z a-z 0-9 _ -); a registered one with its password")
    }

    /// Lines that say something to others: chat, `/me`, `/msg`; not `/who`, `/history` or an unknown command.
    func testWhichLinesSaySomething() {
        XCTAssertTrue(ChatCommands.saysALine(.say("hi")))
        XCTAssertTrue(ChatCommands.saysALine(ChatLine.parse("/me waves")))
        XCTAssertTrue(ChatCommands.saysALine(ChatLine.parse("/tell bob hi")))
        XCTAssertFalse(ChatCommands.saysALine(ChatLine.parse("/who")))
        XCTAssertFalse(ChatCommands.saysALine(ChatLine.parse("/history 5")))
        XCTAssertFalse(ChatCommands.saysALine(ChatLine.parse("/frobnicate")))
        XCTAssertFalse(ChatCommands.saysALine(.empty))
    }
}
