import SwitchboardModeration
import SwitchboardProtocol

/// The commands of people and moderation (away, ignore, the bell; operators and what they may do),
/// appended to ``ChatCommands/table`` (so `/help` and dispatch know them like any other). Handlers run on
/// the hub's loop; the hub refuses operator-only ones to others before they run.
enum ModerationCommands {
    static let table: [ChatCommand] = [
        ChatCommand(["away"], usage: "/away [REASON]", "mark yourself away (shown in /who; a /msg to you gets the reason)") { context in
            context.hub.setAway(context.session, context.id, reason: context.argument)
        },
        ChatCommand(["back"], usage: "/back", "no longer away") { context in
            context.hub.setBack(context.session, context.id)
        },
        ChatCommand(["ignore"], usage: "/ignore [NICK]", "stop seeing NICK's lines and messages (no NICK: the list)") { context in
            if context.argument.isEmpty { return context.hub.ignore(context.session, context.id, nil) }
            guard let name = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.ignore(context.session, context.id, name)
        },
        ChatCommand(["unignore"], usage: "/unignore NICK", "see NICK again") { context in
            guard let name = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.unignore(context.session, context.id, name)
        },
        ChatCommand(["bell"], usage: "/bell on|off", "ring your terminal's bell when a line mentions you") { context in
            switch context.argument.lowercased() {
            case "on": context.hub.setBell(context.session, context.id, on: true)
            case "off": context.hub.setBell(context.session, context.id, on: false)
            default: context.usage()
            }
        },
        ChatCommand(["register"], usage: "/register PASSWORD", "own your nickname (then /identify PASSWORD claims it)") { context in
            guard let password = CommandArgument.text(context.argument) else { return context.usage() }
            context.hub.register(context.session, context.id, password: password)
        },
        ChatCommand(["identify"], usage: "/identify PASSWORD", "prove your registered nickname is yours") { context in
            guard let password = CommandArgument.text(context.argument) else { return context.usage() }
            context.hub.identify(context.session, context.id, password: password)
        },
        ChatCommand(["drop"], usage: "/drop [NICK]", "give up your registered nickname (operators: NICK's)") { context in
            if context.argument.isEmpty { return context.hub.drop(context.session, context.id, nickname: nil) }
            guard let name = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.drop(context.session, context.id, nickname: name)
        },
        ChatCommand(["oper"], usage: "/oper NAME PASSWORD", "become an operator (TLS, Unix socket or loopback)") { context in
            // The password is the rest of the line, spaces and all.
            guard let (name, password) = CommandArgument.targetAndText(context.argument) else { return context.usage() }
            context.hub.oper(context.session, context.id, name: name, password: password)
        },
        ChatCommand(["whois"], usage: "/whois NICK", "who NICK is: visitor number, since when, where") { context in
            guard let name = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.whois(context.session, context.id, nickname: name)
        },
        ChatCommand(["kick"], usage: "/kick NICK [REASON]", "disconnect NICK", operatorOnly: true) { context in
            guard let (name, reason) = CommandArgument.targetAndText(context.argument)
                ?? CommandArgument.word(context.argument).map({ ($0, "") })
            else { return context.usage() }
            context.hub.kick(context.session, context.id, nickname: name, reason: reason)
        },
        ChatCommand(
            ["ban"], usage: "/ban NICK|ADDRESS|CIDR [--nick] [DURATION] [REASON]",
            "ban an address (a nick's: its address, IPv6 its /64; --nick: the name too) for DURATION (30m, 2h, 7d)",
            operatorOnly: true
        ) { context in
            do {
                context.hub.ban(context.session, context.id, try BanRequest(parsing: context.argument))
            } catch {
                context.session.send("! \(error)")
            }
        },
        ChatCommand(["unban"], usage: "/unban NICK|ADDRESS|CIDR", "lift a ban", operatorOnly: true) { context in
            guard let target = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.unban(context.session, context.id, target)
        },
        ChatCommand(["bans"], usage: "/bans", "list the bans in force", operatorOnly: true) { context in
            context.hub.listBans(context.session)
        },
        ChatCommand(["mute"], usage: "/mute NICK [DURATION]", "NICK's lines reach no one", operatorOnly: true) { context in
            let words = context.argument.split(separator: " ").map(String.init)
            guard (1...2).contains(words.count), Nickname.problem(with: words[0]) == nil else { return context.usage() }
            do {
                let duration = try words.count == 2 ? ModerationDuration(parsing: words[1]) : nil
                context.hub.mute(context.session, context.id, nickname: words[0], duration: duration)
            } catch {
                context.session.send("! \(error)")
            }
        },
        ChatCommand(["unmute"], usage: "/unmute NICK", "lift a mute", operatorOnly: true) { context in
            guard let name = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.unmute(context.session, context.id, nickname: name)
        },
        ChatCommand(["announce"], usage: "/announce TEXT", "a notice to everyone", operatorOnly: true) { context in
            guard let text = CommandArgument.text(context.argument) else { return context.usage() }
            context.hub.announce(context.session, context.id, text)
        },
        ChatCommand(["motd"], usage: "/motd set TEXT | /motd clear", "the message shown after the welcome", operatorOnly: true) { context in
            if context.argument == "clear" { return context.hub.setMOTD(context.session, context.id, nil) }
            guard let (verb, text) = CommandArgument.targetAndText(context.argument), verb == "set" else { return context.usage() }
            context.hub.setMOTD(context.session, context.id, text)
        },
        ChatCommand(["op"], usage: "/op NICK", "operator rights for NICK's connection", operatorOnly: true) { context in
            guard let name = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.setOperator(context.session, context.id, nickname: name, grant: true)
        },
        ChatCommand(["deop"], usage: "/deop NICK", "take them back", operatorOnly: true) { context in
            guard let name = CommandArgument.word(context.argument) else { return context.usage() }
            context.hub.setOperator(context.session, context.id, nickname: name, grant: false)
        },
    ]
}
