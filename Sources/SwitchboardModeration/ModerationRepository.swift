import SwitchboardDatabase
import SwitchboardProtocol

/// Every statement moderation runs (operators, bans, mutes, the MOTD, registered nicknames, the log), for
/// both dialects, and the decoding of their rows by column name.
///
/// Like ``HistoryRepository``, it owns no connection and does no scheduling: each method blocks on the
/// connection it is given, so call it on a ``DatabasePool`` thread:
///
/// ```
/// let snapshot = try await pool.withConnection { connection throws(DatabaseError) in
///     try repository.snapshot(at: .now(), on: connection)
/// }
/// ```
///
/// Password hashes go in and are checked here; they never come out (no method returns one).
public struct ModerationRepository: Sendable {
    public let dialect: SQLDialect
    private let sql: ModerationSQL

    public init(dialect: SQLDialect) {
        self.dialect = dialect
        self.sql = ModerationSQL.forDialect(dialect)
    }

    private static func time(_ value: Timestamp?) -> DatabaseValue { value.map { .text($0.iso8601) } ?? .null }

    // MARK: - Operators

    /// Adds an operator with an already made ``PasswordHash``; `false` when one of that name (ignoring
    /// case) exists.
    public func addOperator(
        name: String, passwordHash: String, at now: Timestamp, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> Bool {
        try !connection.query(sql.insertOperator, [
            .text(Nickname.key(name)), .text(name), .text(passwordHash), .text(now.iso8601),
        ]).isEmpty
    }

    /// Every operator, by name.
    public func operators(on connection: any DatabaseConnection) throws(DatabaseError) -> [OperatorAccount] {
        try connection.fetch(sql.operators, []).decodeRows { row throws(DatabaseError) in
            OperatorAccount(name: try row.decode("name"), createdAt: try row.decode("created_at"))
        }
    }

    /// Removes the operator `name` (ignoring case); `false` when there was none.
    public func removeOperator(name: String, on connection: any DatabaseConnection) throws(DatabaseError) -> Bool {
        try !connection.query(sql.deleteOperator, [.text(Nickname.key(name))]).isEmpty
    }

    /// The operator's name as stored when `password` is theirs, else `nil` (no such operator and a wrong
    /// password look alike to the caller). Runs scrypt: blocks for about 0.1 s.
    public func checkOperator(
        name: String, password: String, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> String? {
        let credential = try operatorCredential(name: name, on: connection)
        return Self.verify(password, against: credential) ? credential?.name : nil
    }

    /// Operator `name`'s stored name and hash (`nil`: no such operator), read without checking anything, so
    /// the check (``verify(_:against:)``, slow on purpose) can run off the database's threads.
    public func operatorCredential(name: String, on connection: any DatabaseConnection) throws(DatabaseError) -> StoredCredential? {
        guard let row = try connection.fetch(sql.operatorHash, [.text(Nickname.key(name))]).firstRow else { return nil }
        return StoredCredential(name: try row.decode("name"), passwordHash: try row.decode("password_hash"))
    }

    /// Whether `password` is `credential`'s. With no credential (an unknown name) it spends the same time on a
    /// decoy and says no, so a reply's delay does not say which names exist. Runs scrypt: blocks for about
    /// 0.1 s and 32 MiB; call it on a thread of a pool, never on an event loop.
    public static func verify(_ password: String, against credential: StoredCredential?) -> Bool {
        guard let credential else {
            _ = PasswordHash.verify(password, against: decoyHash)
            return false
        }
        return PasswordHash.verify(password, against: credential.passwordHash)
    }

    /// A valid hash of a password nobody types, verified against when the name is unknown.
    private static let decoyHash = (try? PasswordHash.make(String(repeating: "x", count: 32))) ?? ""

    // MARK: - Bans

    /// Sets `ban`, replacing any on the same target.
    public func setBan(_ ban: Ban, on connection: any DatabaseConnection) throws(DatabaseError) {
        try connection.query(sql.upsertBan, [
            .text(ban.target.kind), .text(ban.target.storedText), .text(ban.reason), .text(ban.setBy),
            .text(ban.setAt.iso8601), Self.time(ban.expiresAt),
        ])
    }

    /// Lifts the ban on exactly `target`; `false` when there was none.
    public func removeBan(_ target: BanTarget, on connection: any DatabaseConnection) throws(DatabaseError) -> Bool {
        try !connection.query(sql.deleteBan, [.text(target.kind), .text(target.storedText)]).isEmpty
    }

    /// The bans holding at `now`, and how many rows were not ones Switchboard writes (skipped).
    public func activeBans(
        at now: Timestamp, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> (bans: [Ban], skipped: Int) {
        var skipped = 0
        let bans = try connection.fetch(sql.bans, [.text(now.iso8601)]).decodeRows { row throws(DatabaseError) -> Ban? in
            let kind: String = try row.decode("kind")
            let text: String = try row.decode("target")
            guard let target = BanTarget(kind: kind, storedText: text) else {
                skipped += 1
                return nil
            }
            return Ban(
                target: target, reason: try row.decode("reason"), setBy: try row.decode("set_by"),
                setAt: try row.decode("set_at"), expiresAt: try row.decodeIfPresent("expires_at"))
        }
        return (bans.compactMap { $0 }, skipped)
    }

    // MARK: - Mutes

    /// Sets `mute`, replacing any on the same nickname.
    public func setMute(_ mute: Mute, on connection: any DatabaseConnection) throws(DatabaseError) {
        try connection.query(sql.upsertMute, [
            .text(Nickname.key(mute.nickname)), .text(mute.nickname), .text(mute.setBy), .text(mute.setAt.iso8601),
            Self.time(mute.expiresAt),
        ])
    }

    /// Lifts the mute on `nickname`; `false` when there was none.
    public func removeMute(nickname: String, on connection: any DatabaseConnection) throws(DatabaseError) -> Bool {
        try !connection.query(sql.deleteMute, [.text(Nickname.key(nickname))]).isEmpty
    }

    /// The mutes holding at `now`, by nickname key.
    public func activeMutes(at now: Timestamp, on connection: any DatabaseConnection) throws(DatabaseError) -> [String: Mute] {
        let mutes = try connection.fetch(sql.mutes, [.text(now.iso8601)]).decodeRows { row throws(DatabaseError) in
            Mute(
                nickname: try row.decode("nickname"), setBy: try row.decode("set_by"), setAt: try row.decode("set_at"),
                expiresAt: try row.decodeIfPresent("expires_at"))
        }
        return Dictionary(mutes.map { (Nickname.key($0.nickname), $0) }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: - Message of the day

    public func setMOTD(_ motd: MessageOfTheDay, on connection: any DatabaseConnection) throws(DatabaseError) {
        try connection.query(sql.upsertMOTD, [.text(motd.body), .text(motd.setBy), .text(motd.setAt.iso8601)])
    }

    public func clearMOTD(on connection: any DatabaseConnection) throws(DatabaseError) {
        try connection.query(sql.deleteMOTD, [])
    }

    public func motd(on connection: any DatabaseConnection) throws(DatabaseError) -> MessageOfTheDay? {
        guard let row = try connection.fetch(sql.motd, []).firstRow else { return nil }
        return MessageOfTheDay(body: try row.decode("body"), setBy: try row.decode("set_by"), setAt: try row.decode("set_at"))
    }

    // MARK: - Registered nicknames

    /// Registers `nickname` with an already made ``PasswordHash``; `false` when it is registered already.
    public func registerNickname(
        _ nickname: String, passwordHash: String, at now: Timestamp, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> Bool {
        try !connection.query(sql.insertNickname, [
            .text(Nickname.key(nickname)), .text(nickname), .text(passwordHash), .text(now.iso8601),
        ]).isEmpty
    }

    /// Whether `password` is the one `nickname` was registered with (`false` also when it is not registered).
    /// Runs scrypt: blocks for about 0.1 s.
    public func checkNickname(
        _ nickname: String, password: String, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> Bool {
        Self.verify(password, against: try nicknameCredential(nickname, on: connection))
    }

    /// Registered `nickname`'s hash (`nil`: not registered), read without checking anything (see
    /// ``operatorCredential(name:on:)``).
    public func nicknameCredential(_ nickname: String, on connection: any DatabaseConnection) throws(DatabaseError) -> StoredCredential? {
        guard let row = try connection.fetch(sql.nicknameHash, [.text(Nickname.key(nickname))]).firstRow else { return nil }
        return StoredCredential(name: nickname, passwordHash: try row.decode("password_hash"))
    }

    /// Removes `nickname`'s registration; `false` when it had none.
    public func dropNickname(_ nickname: String, on connection: any DatabaseConnection) throws(DatabaseError) -> Bool {
        try !connection.query(sql.deleteNickname, [.text(Nickname.key(nickname))]).isEmpty
    }

    // MARK: - Log

    /// Records `entry`; returns its row id.
    @discardableResult
    public func log(_ entry: ModerationLogEntry, on connection: any DatabaseConnection) throws(DatabaseError) -> Int64 {
        let row = try connection.fetch(sql.insertLog, [
            .text(entry.at.iso8601), .text(entry.actor), .text(entry.action), .text(entry.target), .text(entry.reason),
        ]).firstRow
        guard let row else {
            throw DatabaseError(.decodingFailed, message: "inserting a moderation log row returned no id", sql: sql.insertLog)
        }
        return try row.decode("id")
    }

    /// The newest `limit` log entries, newest first.
    public func logEntries(limit: Int, on connection: any DatabaseConnection) throws(DatabaseError) -> [ModerationLogEntry] {
        try connection.fetch(sql.log, [.integer(Int64(limit))]).decodeRows { row throws(DatabaseError) in
            ModerationLogEntry(
                id: try row.decode("id"), at: try row.decode("acted_at"), actor: try row.decode("actor"),
                action: try row.decode("action"), target: try row.decode("target"), reason: try row.decode("reason"))
        }
    }

    // MARK: - What a server enforces

    /// The `moderation_version` counter: it changes whenever bans, mutes, the MOTD or registrations do.
    public func version(on connection: any DatabaseConnection) throws(DatabaseError) -> Int64 {
        guard let row = try connection.fetch(sql.version, []).firstRow else {
            throw DatabaseError(.decodingFailed, message: "moderation_version has no row", sql: sql.version)
        }
        return try row.decode("version")
    }

    /// Everything a server enforces at `now`, read consistently (call inside a transaction for one
    /// snapshot: ``DatabasePool/transaction(on:_:)``).
    public func snapshot(at now: Timestamp, on connection: any DatabaseConnection) throws(DatabaseError) -> ModerationSnapshot {
        let version = try version(on: connection)
        let (bans, skipped) = try activeBans(at: now, on: connection)
        let nicknames = try connection.fetch(sql.nicknames, []).decodeRows { row throws(DatabaseError) in
            try row.decode("nickname_key", as: String.self)
        }
        return ModerationSnapshot(
            version: version, bans: BanList(bans), mutes: try activeMutes(at: now, on: connection),
            motd: try motd(on: connection), registeredNicknames: Set(nicknames), skippedRows: skipped)
    }

    /// Deletes bans and mutes that expired by `now`; returns how many.
    @discardableResult
    public func deleteExpired(at now: Timestamp, on connection: any DatabaseConnection) throws(DatabaseError) -> Int {
        let bans = try connection.query(sql.deleteExpiredBans + " RETURNING target", [.text(now.iso8601)]).count
        let mutes = try connection.query(sql.deleteExpiredMutes + " RETURNING nickname_key", [.text(now.iso8601)]).count
        return bans + mutes
    }
}
