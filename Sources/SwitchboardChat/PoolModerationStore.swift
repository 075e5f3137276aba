import NIOCore
import SwitchboardDatabase
import SwitchboardModeration

/// ``ChatModerationStore`` on the database pool: each call is one interaction on a pool thread (scrypt
/// included, so a password check never runs on the event loop), its future completing on the hub's loop.
public final class PoolModerationStore: ChatModerationStore, Sendable {
    private let pool: DatabasePool
    private let eventLoop: any EventLoop
    private let repository: ModerationRepository

    public init(pool: DatabasePool, eventLoop: any EventLoop) {
        self.pool = pool
        self.eventLoop = eventLoop
        self.repository = ModerationRepository(dialect: pool.url.dialect)
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
            try repository.checkOperator(name: name, password: password, on: connection)
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
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            // The caller checked the length; a password that still cannot be hashed registers nothing.
            guard let hash = try? PasswordHash.make(password) else { return false }
            return try repository.registerNickname(nickname, passwordHash: hash, at: .now(), on: connection)
        }
    }

    public func checkNickname(_ nickname: String, password: String) -> EventLoopFuture<Bool> {
        let repository = self.repository
        return pool.withConnection(on: eventLoop) { connection throws(DatabaseError) in
            try repository.checkNickname(nickname, password: password, on: connection)
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
