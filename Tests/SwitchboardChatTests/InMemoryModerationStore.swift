import NIOCore
import SwitchboardChat
import SwitchboardDatabase
import SwitchboardModeration

/// Moderation storage for hub unit tests: in memory, on the test's embedded loop, with operators whose
/// passwords are compared as plain text (the hashing is PasswordHashTests' business). Counts password
/// checks, so tests can see that a throttled attempt never reaches the store.
final class InMemoryModerationStore: ChatModerationStore {
    let loop: any EventLoop
    var operators: [String: (name: String, password: String)] = [:]
    var state = ModerationSnapshot()
    var log: [ModerationLogEntry] = []
    private(set) var passwordChecks = 0

    init(loop: any EventLoop) { self.loop = loop }

    func snapshot() -> EventLoopFuture<ModerationSnapshot> { loop.makeSucceededFuture(state) }
    func version() -> EventLoopFuture<Int64> { loop.makeSucceededFuture(state.version) }

    func checkOperator(name: String, password: String) -> EventLoopFuture<String?> {
        passwordChecks += 1
        guard let account = operators[name.lowercased()], account.password == password else { return loop.makeSucceededFuture(nil) }
        return loop.makeSucceededFuture(account.name)
    }

    func log(_ entry: ModerationLogEntry) -> EventLoopFuture<Void> {
        log.append(entry)
        return loop.makeSucceededVoidFuture()
    }

    private func changed(_ entry: ModerationLogEntry) -> EventLoopFuture<Void> {
        state.version += 1
        log.append(entry)
        return loop.makeSucceededVoidFuture()
    }

    func setBan(_ ban: Ban, log entry: ModerationLogEntry) -> EventLoopFuture<Void> {
        state.bans.insert(ban)
        return changed(entry)
    }

    func removeBan(_ target: BanTarget, log entry: ModerationLogEntry) -> EventLoopFuture<Bool> {
        guard state.bans.remove(target) != nil else { return loop.makeSucceededFuture(false) }
        return changed(entry).map { true }
    }

    func setMute(_ mute: Mute, log entry: ModerationLogEntry) -> EventLoopFuture<Void> {
        state.mutes[mute.nickname.lowercased()] = mute
        return changed(entry)
    }

    func removeMute(nickname: String, log entry: ModerationLogEntry) -> EventLoopFuture<Bool> {
        guard state.mutes.removeValue(forKey: nickname.lowercased()) != nil else { return loop.makeSucceededFuture(false) }
        return changed(entry).map { true }
    }

    var nicknames: [String: String] = [:]

    func registerNickname(_ nickname: String, password: String) -> EventLoopFuture<Bool> {
        guard nicknames[nickname.lowercased()] == nil else { return loop.makeSucceededFuture(false) }
        nicknames[nickname.lowercased()] = password
        state.registeredNicknames.insert(nickname.lowercased())
        state.version += 1
        return loop.makeSucceededFuture(true)
    }

    func checkNickname(_ nickname: String, password: String) -> EventLoopFuture<Bool> {
        passwordChecks += 1
        return loop.makeSucceededFuture(nicknames[nickname.lowercased()] == password)
    }

    func dropNickname(_ nickname: String, log entry: ModerationLogEntry?) -> EventLoopFuture<Bool> {
        guard nicknames.removeValue(forKey: nickname.lowercased()) != nil else { return loop.makeSucceededFuture(false) }
        state.registeredNicknames.remove(nickname.lowercased())
        if let entry { log.append(entry) }
        state.version += 1
        return loop.makeSucceededFuture(true)
    }

    func setMOTD(_ motd: MessageOfTheDay?, log entry: ModerationLogEntry) -> EventLoopFuture<Void> {
        state.motd = motd
        return changed(entry)
    }
}
