import SwitchboardHistory
import SwitchboardProtocol

/// One slash command: the names it answers to, its usage, one line of help, whether it says something, and
/// what it does. ``ChatCommands/table`` holds them all; `/help` is generated from it, so adding a command is
/// one entry there.
struct ChatCommand: Sendable {
    /// The names it answers to, lowercased; the first is the one `/help` shows.
    let names: [String]
    /// How to call it, as `/help` shows it: `/msg NICK TEXT`.
    let usage: String
    /// One line for `/help`.
    let summary: String
    /// What `! usage:` says when the argument has the wrong shape; ``usage`` if `nil`.
    let usageError: String?
    /// It says something to others (a chat line, an action, a private message): while what consumes chat
    /// lines is behind, it counts toward the client's share (``ChatHub/setBehind(_:_:)``).
    let saysALine: Bool
    /// Only operators may use it (others are told so); `/help` lists it to operators only.
    let operatorOnly: Bool
    /// Carries it out, on the hub's loop.
    let run: @Sendable (ChatCommandContext) -> Void

    init(
        _ names: [String], usage: String, _ summary: String, usageError: String? = nil, saysALine: Bool = false,
        operatorOnly: Bool = false, run: @escaping @Sendable (ChatCommandContext) -> Void
    ) {
        self.names = names
        self.usage = usage
        self.summary = summary
        self.usageError = usageError
        self.saysALine = saysALine
        self.operatorOnly = operatorOnly
        self.run = run
    }
}

/// What a command's handler works with: the hub, who asked, under which name, and the argument as typed.
struct ChatCommandContext {
    let hub: ChatHub
    let session: any ChatClient
    let id: ConnectionKey
    let nickname: String
    let argument: String
    let command: ChatCommand

    /// Answers with the command's usage (its argument had the wrong shape).
    func usage() { session.send(ChatText.usage(command.usageError ?? command.usage)) }
}

/// The chat's commands, as one table.
///
/// Ownership: immutable; the handlers take no state of their own and run on the hub's loop.
enum ChatCommands {
    static let table: [ChatCommand] = [
        ChatCommand(
            ["nick"], usage: "/nick NAME [PASSWORD]", "change your nickname (\(Nickname.rule)); a registered one with its password",
            usageError: "/nick NAME [PASSWORD] (\(Nickname.rule))"
        ) { context in
            if let (name, password) = CommandArgument.targetAndText(context.argument) {
                return context.hub.identify(context.session, context.id, password: password, as: name)
            }
            guard let name = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.rename(context.session, context.id, to: name)
        },
        ChatCommand(["who", "names"], usage: "/who", "list who is connected") { context in
            context.hub.who(context.session)
        },
        ChatCommand(["count"], usage: "/count", "how many are connected, and visits in total") { context in
            context.session.send(ChatText.count(connected: context.hub.connectedCount, visits: context.hub.totalVisits))
        },
        ChatCommand(["me"], usage: "/me ACTION", "say an action: * you ACTION", saysALine: true) { context in
            guard let action = CommandArgument.text(context.argument) else { return context.usage() }
            context.hub.say(context.session, context.id, context.nickname, action, kind: .me)
        },
        ChatCommand(["msg", "tell"], usage: "/msg NICK TEXT", "a private message to NICK", saysALine: true) { context in
            guard let (target, text) = CommandArgument.targetAndText(context.argument) else { return context.usage() }
            context.hub.privateMessage(from: context.session, context.id, context.nickname, to: target, text)
        },
        ChatCommand(
            ["history"], usage: "/history [N]",
            "the last N public lines (default \(CommandArgument.defaultHistoryCount), max \(CommandArgument.maximumHistoryCount))",
            usageError: "/history [N] (N from 1 to \(CommandArgument.maximumHistoryCount))"
        ) { context in
            guard let (count, note) = CommandArgument.historyCount(context.argument) else { return context.usage() }
            if let note { context.session.send(note) }
            context.hub.recentHistory(count, for: context.session)
        },
        ChatCommand(["seen"], usage: "/seen NICK", "when NICK was last here") { context in
            guard let name = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.seen(name, for: context.session)
        },
        ChatCommand(["quit", "exit"], usage: "/quit [REASON]", "leave") { context in
            let reason = CommandArgument.text(context.argument)
            context.session.send(ChatText.bye)
            context.session.closeWhenAnswered(reason: reason.map { "quit: \($0)" } ?? "quit", shownAs: reason ?? "quit")
        },
        ChatCommand(["help", "?"], usage: "/help", "this list (operators see their commands too)") { context in
            let lines = context.hub.isOperator(context.id) ? ChatCommands.operatorHelpLines : ChatCommands.helpLines
            for line in lines { context.session.send("* " + line) }
        },
    ] + ModerationCommands.table

    /// Every name (aliases included) to its command.
    static let byName: [String: ChatCommand] = Dictionary(
        table.flatMap { command in command.names.map { ($0, command) } }, uniquingKeysWith: { first, _ in first })

    /// `/help`: one line per command everyone may use, then how to say a line that starts with `/`.
    static let helpLines: [String] = table.filter { !$0.operatorOnly }.map { helpLine($0.usage, $0.summary) }
        + [helpLine("//text", "say a line that starts with /")]

    /// `/help` for operators: everyone's commands, then the operators'.
    static let operatorHelpLines: [String] = helpLines
        + table.filter(\.operatorOnly).map { helpLine($0.usage, $0.summary + " (operators)") }

    private static func helpLine(_ usage: String, _ summary: String) -> String {
        usage.padding(toLength: max(usage.count + 1, 18), withPad: " ", startingAt: 0) + summary
    }

    /// Whether `line` says something to others (see ``ChatCommand/saysALine``).
    static func saysALine(_ line: ChatLine) -> Bool {
        switch line {
        case .say: return true
        case .command(let name, _, _): return byName[name]?.saysALine ?? false
        case .empty: return false
        }
    }
}
