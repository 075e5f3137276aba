import NIOCore
import SwitchboardDatabase
import SwitchboardHistory

/// The statements cluster mode runs (PostgreSQL only: several servers need PostgreSQL): nickname claims
/// decided by the `nicknames` primary key, and the survivors' view of the `servers` table — who stopped,
/// who is late — with the repair of a lost server's rows.
///
/// Like ``HistoryRepository`` it owns no connection: each method takes the one it runs on and blocks, so
/// callers run it on a ``DatabasePool`` thread.
public struct ClusterRepository: Sendable {
    /// This server's id (its `servers` row).
    public let serverID: Int64

    public init(serverID: Int64) {
        self.serverID = serverID
    }

    /// One name to hold.
    public struct Claim: Sendable, Equatable {
        public let nickname: String
        /// The name as compared for uniqueness (the chat layer's case folding).
        public let key: String
        public let connection: UInt64
        /// When the member took the name, µs since 1970.
        public let claimedAt: Int64

        public init(nickname: String, key: String, connection: UInt64, claimedAt: Int64) {
            self.nickname = nickname
            self.key = key
            self.connection = connection
            self.claimedAt = claimedAt
        }
    }

    /// The name a lost server's open row gets: what its member was last known as.
    public struct RowName: Sendable, Equatable {
        public let row: Int64
        public let nickname: String
        public init(row: Int64, nickname: String) {
            self.row = row
            self.nickname = nickname
        }
    }

    /// Another server as the survivors see it.
    public struct ServerStatus: Sendable, Equatable {
        public let id: Int64
        /// It stopped gracefully (or was marked gone).
        public let stopped: Bool
        /// Not stopped, and its heartbeat is older than the timeout: lost.
        public let late: Bool

        public init(id: Int64, stopped: Bool, late: Bool) {
            self.id = id
            self.stopped = stopped
            self.late = late
        }
    }

    /// Takes `claim.nickname` for this server's member, unless another live server's member holds it.
    /// `takeOver`: also take it from a holder whose claim is later (reconciling after a split). A holder
    /// whose server stopped or is late never keeps a name. Any other name the member held is released.
    /// Returns whether the member holds the name now.
    public func claim(
        _ claim: Claim, takeOver: Bool = false, serverTimeout: TimeAmount, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> Bool {
        let claimed = try !connection.fetch(ClusterRepository.claimSQL, [
            .text(claim.key), .text(claim.nickname), .integer(serverID),
            .integer(Int64(bitPattern: claim.connection)), .integer(claim.claimedAt), .integer(takeOver ? 1 : 0),
            .text(String(Double(serverTimeout.nanoseconds) / 1e9)),
        ]).rows.isEmpty
        if claimed {
            try connection.fetch(ClusterRepository.releaseOthersSQL, [
                .integer(serverID), .integer(Int64(bitPattern: claim.connection)), .text(claim.key),
            ])
        }
        return claimed
    }

    /// Releases every name this server's member `connection` holds (it left, or took a guest name).
    public func release(connection key: UInt64, on connection: any DatabaseConnection) throws(DatabaseError) {
        try connection.fetch(ClusterRepository.releaseSQL, [.integer(serverID), .integer(Int64(bitPattern: key))])
    }

    /// After contact with the database came back: drops every claim of this server, then claims `claims`
    /// again with their original times, taking names from later claims. Run it in one transaction. Returns
    /// the connections that lost their name to an earlier claim on another server.
    public func reconcile(
        _ claims: [Claim], serverTimeout: TimeAmount, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> [UInt64] {
        try connection.fetch(ClusterRepository.releaseAllSQL, [.integer(serverID)])
        var lost: [UInt64] = []
        for claim in claims where !(try self.claim(claim, takeOver: true, serverTimeout: serverTimeout, on: connection)) {
            lost.append(claim.connection)
        }
        return lost
    }

    /// The other servers that are late (not stopped, heartbeat older than `serverTimeout`), and the state of
    /// `known` (servers whose members this server holds).
    public func serverStatuses(
        known: [Int64], serverTimeout: TimeAmount, on connection: any DatabaseConnection
    ) throws(DatabaseError) -> [ServerStatus] {
        let list = "{" + known.map(String.init).joined(separator: ",") + "}"
        return try connection.fetch(ClusterRepository.statusSQL, [
            .integer(serverID), .text(String(Double(serverTimeout.nanoseconds) / 1e9)), .text(list),
        ]).decodeRows { row throws(DatabaseError) in
            ServerStatus(
                id: try row.decode("id"), stopped: try row.decode("stopped", as: Int64.self) != 0,
                late: try row.decode("late", as: Int64.self) != 0)
        }
    }

    /// What ``closeLostServer(_:names:serverTimeout:at:reason:on:)`` found.
    public enum LostServer: Sendable, Equatable {
        /// It was still late: it is marked gone now, and this many of its rows were closed.
        case closed(rows: Int)
        /// Another survivor marked it gone (or it stopped) already: nothing left to do here.
        case alreadyGone
        /// Its heartbeat is fresh again (it was busy, or cut off for a moment, not dead): nothing was done.
        case alive
    }

    /// A survivor's repair of lost server `id` (run in one transaction; several survivors may run it at
    /// once): if its heartbeat is still older than `serverTimeout` by the database's clock — decided here,
    /// in the statement that marks it, so a judgement made earlier on a busy loop cannot mark a server whose
    /// heartbeat came back meanwhile — marks it gone as of its last heartbeat, closes its open rows as ended
    /// at `time` with `reason` (named as `names` say), and drops its name claims.
    public func closeLostServer(
        _ id: Int64, names: [RowName] = [], serverTimeout: TimeAmount, at time: Timestamp,
        reason: String = "server lost", on connection: any DatabaseConnection
    ) throws(DatabaseError) -> LostServer {
        let timeout = String(Double(serverTimeout.nanoseconds) / 1e9)
        guard try !connection.fetch(ClusterRepository.markLostSQL, [.integer(id), .text(timeout)]).rows.isEmpty else {
            // No row at all counts as gone.
            guard let row = try connection.fetch(ClusterRepository.isStoppedSQL, [.integer(id)]).firstRow else {
                return .alreadyGone
            }
            return try row.decode("stopped", as: Int64.self) != 0 ? .alreadyGone : .alive
        }
        for name in names {
            try connection.fetch(ClusterRepository.nameRowSQL, [.integer(name.row), .text(name.nickname), .integer(id)])
        }
        try connection.fetch(ClusterRepository.releaseAllSQL, [.integer(id)])
        let closed = try connection.fetch(
            ClusterRepository.closeRowsSQL, [.integer(id), .text(time.iso8601), .text(reason)]).rows.count
        // Open rows are never refusals: each is a visit ending now (taken back if the server rejoins).
        var rollups = HistoryRollups()
        rollups.addDisconnects(Int64(closed), at: time)
        try rollups.write(on: connection, .postgres)
        return .closed(rows: closed)
    }

    /// The other live servers (heartbeat within `serverTimeout`), by id.
    public func liveServerIDs(serverTimeout: TimeAmount, on connection: any DatabaseConnection) throws(DatabaseError) -> [Int64] {
        try ServerRegistry(dialect: .postgres).liveServers(serverTimeout: serverTimeout, excluding: serverID, on: connection)
            .map(\.id)
    }

    // $1 key, $2 nickname, $3 server, $4 connection, $5 claimed_at, $6 take over (1/0), $7 timeout (s).
    static let claimSQL = """
        INSERT INTO nicknames AS held (nickname_key, nickname, server_id, connection_key, claimed_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (nickname_key) DO UPDATE
            SET nickname = EXCLUDED.nickname, server_id = EXCLUDED.server_id,
                connection_key = EXCLUDED.connection_key,
                -- The holder taking its own name again (a change of case, a reconcile) keeps its claim's time.
                claimed_at = CASE WHEN held.server_id = EXCLUDED.server_id AND held.connection_key = EXCLUDED.connection_key
                                  THEN LEAST(held.claimed_at, EXCLUDED.claimed_at) ELSE EXCLUDED.claimed_at END
            WHERE (held.server_id = EXCLUDED.server_id AND held.connection_key = EXCLUDED.connection_key)
               OR ($6::int = 1 AND (EXCLUDED.claimed_at, EXCLUDED.server_id) < (held.claimed_at, held.server_id))
               OR held.server_id IN (
                   SELECT id FROM servers WHERE stopped_at IS NOT NULL OR heartbeat_at < \(HistorySQL.cutoff("$7")))
        RETURNING server_id
        """
    static let releaseOthersSQL =
        "DELETE FROM nicknames WHERE server_id = $1 AND connection_key = $2 AND nickname_key <> $3"
    static let releaseSQL = "DELETE FROM nicknames WHERE server_id = $1 AND connection_key = $2"
    static let releaseAllSQL = "DELETE FROM nicknames WHERE server_id = $1"
    static let statusSQL = """
        SELECT id, CASE WHEN stopped_at IS NOT NULL THEN 1 ELSE 0 END AS stopped,
               CASE WHEN stopped_at IS NULL AND heartbeat_at < \(HistorySQL.cutoff("$2")) THEN 1 ELSE 0 END AS late
        FROM servers
        WHERE id <> $1 AND ((stopped_at IS NULL AND heartbeat_at < \(HistorySQL.cutoff("$2"))) OR id = ANY($3::bigint[]))
        ORDER BY id
        """
    static let nameRowSQL =
        "UPDATE connections SET nickname = $2 WHERE id = $1 AND server_id = $3 AND disconnected_at IS NULL"
    // $1 server, $2 timeout (s). Locks the row: the lost server's own heartbeat (or rejoin) waits for this
    // transaction, and a heartbeat that got there first makes it match nothing.
    static let markLostSQL = """
        UPDATE servers SET stopped_at = heartbeat_at
        WHERE id = $1 AND stopped_at IS NULL AND heartbeat_at < \(HistorySQL.cutoff("$2"))
        RETURNING id
        """
    static let isStoppedSQL = "SELECT CASE WHEN stopped_at IS NULL THEN 0 ELSE 1 END AS stopped FROM servers WHERE id = $1"
    static let closeRowsSQL = """
        UPDATE connections SET disconnected_at = $2, close_reason = $3
        WHERE server_id = $1 AND disconnected_at IS NULL RETURNING id
        """
}
