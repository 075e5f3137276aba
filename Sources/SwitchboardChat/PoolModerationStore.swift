import NIOCore
import SwitchboardDatabase
import SwitchboardModeration

/// ``ChatModerationStore`` on the database pool: each call is one interaction on a pool thread, its future
/// completing on the hub's loop. Password checks and hashes (scrypt) run on ``PasswordChecks``' threads, never on
/// the event loop and never holding a database connection.
public final class PoolModerationStore: ChatModerationStore, Sendable {
    private let pool: DatabasePool
    private let eventLoop: any EventLoop
    private let repository: ModerationRepository
    private let passwords: PasswordChecks

    public convenience init(pool: DatabasePool, eventLoop: any EventLoop) {
        self.init(pool: pool, eventLoop: eventLoop, passwords: PasswordChecks())
    }

    init(pool: DatabasePool, eventLoop: any EventLoop, passwords: PasswordChecks) {
        self.pool = pool
        self.eventLoop = eventLoop
        self.repository = ModerationRepository(dialect: pool.url.dialect)
        self.passwords = passwords
    }

    public func snapshot() -> EventLoopFuture<ModerationSnapshot> {
        let repository = self.repository
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.snapshot(at: .now(), on: connection)
        }
    }

    public func version() -> EventLoopFuture<Int64> {
        let repository = self.repository
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in try repository.version(on: connection) }
    }

    public func checkOperator(name: String, password: String) -> EventLoopFuture<String?> {
        let repository = self.repository
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.operatorCredential(name: name, on: connection)
        }.flatMap { [passwords, eventLoop] credential in
            passwords.run(on: eventLoop) { ModerationRepository.verify(password, against: credential) ? credential?.name : nil }
        }
    }

    public func log(_ entry: ModerationLogEntry) -> EventLoopFuture<Void> {
        let repository = self.repository
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.log(entry, on: connection)
            return ()
        }
    }

    public func setBan(_ ban: Ban, log entry: ModerationLogEntry) -> EventLoopFuture<Void> {
        let repository = self.repository
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.setBan(ban, on: connection)
            try repository.log(entry, on: connection)
            return ()
        }
    }

    public func removeBan(_ target: BanTarget, log entry: ModerationLogEntry) -> EventLoopFuture<Bool> {
        let repository = self.repository
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            guard try repository.removeBan(target, on: connection) else { return false }
            try repository.log(entry, on: connection)
            return true
        }
    }

    public func setMute(_ mute: Mute, log entry: ModerationLogEntry) -> EventLoopFuture<Void> {
        let repository = self.repository
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            try repository.setMute(mute, on: connection)
            try repository.log(entry, on: connection)
            return ()
        }
    }

    public func removeMute(nickname: String, log entry: ModerationLogEntry) -> EventLoopFuture<Bool> {
        let repository = self.repository
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            guard try repository.removeMute(nickname: nickname, on: connection) else { return false }
            try repository.log(entry, on: connection)
            return true
        }
    }

    public func registerNickname(_ nickname: String, password: String) -> EventLoopFuture<Bool> {
        let repository = self.repository
        let pool = self.pool
        let eventLoop = self.eventLoop
        // The caller checked the length; a password that still cannot be hashed registers nothing.
        return passwords.run(on: eventLoop) { try? PasswordHash.make(password) }.flatMap { hash in
            guard let hash else { return eventLoop.makeSucceededFuture(false) }
            return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
                try repository.registerNickname(nickname, passwordHash: hash, at: .now(), on: connection)
            }
        }
    }

    public func checkNickname(_ nickname: String, password: String) -> EventLoopFuture<Bool> {
        let repository = self.repository
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.nicknameCredential(nickname, on: connection)
        }.flatMap { [passwords, eventLoop] credential in
            passwords.run(on: eventLoop) { ModerationRepository.verify(password, against: credential) }
        }
    }

    public func dropNickname(_ nickname: String, log entry: ModerationLogEntry?) -> EventLoopFuture<Bool> {
        let repository = self.repository
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            guard try repository.dropNickname(nickname, on: connection) else { return false }
            if let entry { try repository.log(entry, on: connection) }
            return true
        }
    }

    public func setMOTD(_ motd: MessageOfTheDay?, log entry: ModerationLogEntry) -> EventLoopFuture<Void> {
        let repository = self.repository
        return pool.transaction(on: eventLoop) { connection throws(DatabaseError) in
            if let motd { try repository.setMOTD(motd, on: connection) } else { try repository.clearMOTD(on: connection) }
            try repository.log(entry, on: connection)
            return ()
        }
    }
}
