import NIOCore
import SwitchboardDatabase
import SwitchboardProtocol

/// Every statement history runs, for both dialects, and the decoding of their rows by column name.
///
/// The repository does no scheduling and owns no connection: each method takes the connection it runs on and
/// blocks, so callers run it on a ``DatabasePool`` thread (the ``BlockingCallGuard`` in each connection call
/// traps otherwise, in debug builds):
///
/// ```
/// let visits = try await pool.withConnection { connection throws(DatabaseError) in
///     try repository.totalVisits(on: connection)
/// }
/// ```
///
/// A row that does not decode is a thrown ``DatabaseError`` of kind `decodingFailed` naming the column,
/// never a row silently left out.
public struct HistoryRepository: Sendable {
    /// The dialect the statements are written in.
    public let dialect: SQLDialect
    /// The `servers` row of the server whose history this writes: every connection row written records it
    /// (`connections.server_id`), so start-up repair can tell a live server's rows from a dead one's.
    /// `nil` (tools, tests): rows without an owner.
    public let serverID: Int64?
    private let sql: HistorySQL
    /// The multi-row message INSERT for each size of ``messageStatementSizes``, built once: rebuilding its
    /// text for every batch was a visible part of the pool's CPU under a chat flood.
    private let insertMessagesSQL: [String]

    /// The repository for databases speaking `dialect`, writing rows owned by `serverID`.
    public init(dialect: SQLDialect, serverID: Int64? = nil) {
        self.dialect = dialect
        self.serverID = serverID
        self.sql = HistorySQL.forDialect(dialect)
        self.insertMessagesSQL = Self.messageStatementSizes.map { Self.insertMessagesSQL(rows: $0, dialect) }
    }

    private var owner: DatabaseValue { serverID.map(DatabaseValue.integer) ?? .null }

    // MARK: - Schema

    /// Applies pending migrations (see ``Migrator``).
    public func migrate(on connection: any DatabaseConnection) throws(DatabaseError) -> Migrator.Outcome {
        try Migrator(dialect: dialect).migrate(connection)
    }

    /// Where the database's schema stands, read without writing anything (see ``Migrator/status(_:)``).
    public func schemaStatus(on connection: any DatabaseConnection) throws(DatabaseError) -> Migrator.Status {
        try Migrator(dialect: dialect).status(connection)
    }

    // MARK: - Writes

    /// Writes `events` in order on `connection`, inside the caller's transaction, and returns the row ids of
    /// the connections they opened. `known` gives the row ids of connections opened by earlier batches;
    /// `closed` and `message` events of a connection with no row id (its `opened` was dropped) are skipped.
    ///
    /// Checks first that a SQLite file is still the one opened (``SQLiteConnection/verifyFileIdentity()``),
    /// so nothing is committed into a deleted or replaced file.
    ///
    /// `lastSequence` (the writer's number for the last event; 0: none) is recorded in this server's row
    /// (`history_progress`) in the same transaction, so a spool replay knows these events are stored; what
    /// the events add to the rollups (lines per hour, last lines, visits per minute: ``HistoryRollups``) goes
    /// in with them.
    func write(
        _ events: [HistoryEvent], known: [ConnectionKey: Int64], through lastSequence: UInt64 = 0,
        on connection: any DatabaseConnection
    ) throws(DatabaseError) -> [ConnectionKey: Int64] {
        if let sqlite = connection as? SQLiteConnection { try sqlite.verifyFileIdentity() }
        var ids = known
        var opened: [ConnectionKey: Int64] = [:]
        // A connection that opens and closes within this batch (most visits under churn) becomes one INSERT
        // of the finished row, where its `opened` stands, instead of an INSERT and an UPDATE.
        let finished = Self.finishedWithin(events)
        // Chat lines in a row go in together (see insertMessages); any other event first writes the lines
        // before it, so rows keep the order events came in.
        var lines: [DatabaseValue] = []
        let wanted = events.count * Self.messageColumns
        lines.reserveCapacity(sql.copyMessages == nil ? min(wanted, Self.largestStatementValues) : wanted)
        var rollups = HistoryRollups()
        for event in events {
            if case .message(let key, let nickname, let kind, let body, let time) = event {
                guard let id = ids[key] else { continue }
                lines.append(.integer(id))
                lines.append(.text(nickname))
                lines.append(.text(kind.rawValue))
                lines.append(.text(body))
                lines.append(.text(time.iso8601))
                rollups.addLine(by: nickname, at: time)
                // Without COPY, a full statement's rows go as soon as they are gathered: the array is bound
                // as it is, not copied out of a longer one.
                if sql.copyMessages == nil, lines.count == Self.largestStatementValues {
                    try insertMessages(&lines, on: connection)
                }
                continue
            }
            try insertMessages(&lines, on: connection)
            switch event {
            case .opened(let key, let peer, let nickname, let time, let visitor):
                let id: Int64
                if let visitor { id = visitor } else { id = try nextVisitorNumber(on: connection) }
                // A guest's row is named as the hub names it: guest<visitor number>.
                let name = nickname ?? GuestName.base(visitor: id, connection: 0)
                if let summary = finished[key] {
                    try connection.fetch(sql.insertFinishedConnection, [
                        .integer(id), .text(peer), .text(summary.nickname ?? name), .text(time.iso8601), owner,
                        .text(summary.closedAt.iso8601), .text(summary.reason),
                        .integer(summary.linesIn), .integer(summary.linesOut),
                        .integer(summary.bytesIn), .integer(summary.bytesOut),
                    ])
                    if !Self.isRefusal(summary.reason) { rollups.addDisconnects(at: summary.closedAt) }
                } else {
                    try connection.fetch(
                        sql.insertConnection, [.integer(id), .text(peer), .text(name), .text(time.iso8601), owner])
                }
                rollups.addConnect(at: time)
                ids[key] = id
                opened[key] = id
            case .refused(let peer, let reason, let time, let visitor):
                let id: Int64
                if let visitor { id = visitor } else { id = try nextVisitorNumber(on: connection) }
                try connection.fetch(
                    sql.insertRefused, [.integer(id), .text(peer), .text(time.iso8601), .text(reason), owner])
            case .closed(let key, let summary):
                guard finished[key] == nil, let id = ids[key] else { continue }
                try close(id, summary, rollups: &rollups, on: connection)
            case .message:
                break  // gathered above
            }
        }
        try insertMessages(&lines, on: connection)
        // Last, so on PostgreSQL the rollups' rows (which every server's batches update) stay locked only
        // until the commit that follows.
        try rollups.write(on: connection, dialect)
        if let serverID, lastSequence > 0 {
            try connection.fetch(sql.recordSequence, [.integer(serverID), .integer(Int64(clamping: lastSequence))])
        }
        return opened
    }

    /// Writes how connection `id` ended. Its row is open unless a survivor or a start-up repair closed it
    /// for a server taken for lost (`server lost`): then the close they wrote is taken back from the rollups
    /// before this one, the real one, replaces it.
    private func close(
        _ id: Int64, _ summary: ConnectionSummary, rollups: inout HistoryRollups, on connection: any DatabaseConnection
    ) throws(DatabaseError) {
        let binds: [DatabaseValue] = [
            .integer(id), summary.nickname.map(DatabaseValue.text) ?? .null, .text(summary.closedAt.iso8601),
            .text(summary.reason),
            .integer(summary.linesIn), .integer(summary.linesOut),
            .integer(summary.bytesIn), .integer(summary.bytesOut),
        ]
        if try connection.fetch(sql.closeOpenConnection, binds).changedRows == 0 {
            guard let previous = try connection.fetch(sql.previousClose, [.integer(id)]).firstRow else { return }
            let reason: String? = try previous.decodeIfPresent("close_reason")
            if let closedAt: Timestamp = try previous.decodeIfPresent("disconnected_at"), !Self.isRefusal(reason ?? "") {
                rollups.addDisconnects(-1, at: closedAt)
            }
            try connection.fetch(sql.closeConnection, binds)
        }
        if !Self.isRefusal(summary.reason) { rollups.addDisconnects(at: summary.closedAt) }
    }

    /// Whether a close reason marks a refusal (`refused: server full`): a row, not a visit.
    static func isRefusal(_ reason: String) -> Bool { reason.hasPrefix("refused:") }

    /// The sequence number of the last history event of server `id` known to be stored (0: none, or no such
    /// server). On PostgreSQL the server's row stays locked until the transaction ends.
    func historySequence(ofServer id: Int64, on connection: any DatabaseConnection) throws(DatabaseError) -> UInt64 {
        guard let row = try connection.fetch(sql.historySequence, [.integer(id)]).firstRow else { return 0 }
        return UInt64(clamping: try row.decode("last_sequence", as: Int64.self))
    }

    /// The database's identity (see migration 0005): names it in spool files.
    public func databaseIdentity(on connection: any DatabaseConnection) throws(DatabaseError) -> String {
        guard let row = try connection.fetch(sql.databaseIdentity, []).firstRow else {
            throw DatabaseError(.decodingFailed, message: "the database has no identity row", sql: sql.databaseIdentity, column: "id")
        }
        return try row.decode("id")
    }

    /// The connections both opened and closed in `events`, with how they closed.
    static func finishedWithin(_ events: [HistoryEvent]) -> [ConnectionKey: ConnectionSummary] {
        var openedHere = Set<ConnectionKey>()
        var finished: [ConnectionKey: ConnectionSummary] = [:]
        for event in events {
            switch event {
            case .opened(let key, _, _, _, _): openedHere.insert(key)
            case .closed(let key, let summary) where openedHere.contains(key): finished[key] = summary
            case .closed, .refused, .message: break
            }
        }
        return finished
    }

    /// Values per message row: connection id, nickname, kind, body, sent at.
    private static let messageColumns = 5

    /// Rows per message INSERT: as many 64-row statements as fit, the rest in statements of 16, 4 and 1 rows —
    /// four statement shapes, each prepared once per connection. (On SQLite a 64-row statement cost less per
    /// row than one row stepped 64 times, in C too.)
    private static let messageStatementSizes = [64, 16, 4, 1]
    /// The values the largest of them binds.
    private static let largestStatementValues = messageStatementSizes[0] * messageColumns

    /// From this many lines in a row on, PostgreSQL takes them by `COPY` (one statement and one stream instead
    /// of a prepared INSERT and a round trip per 64 rows); fewer go in the prepared INSERTs, which need one
    /// round trip where COPY needs two and a statement parsed each time.
    static let copyThreshold = 16

    /// Inserts the gathered message rows (five values each), in order, and empties `values`: on PostgreSQL
    /// ``copyThreshold`` rows or more by `COPY`, otherwise in statements of ``messageStatementSizes`` rows.
    private func insertMessages(_ values: inout [DatabaseValue], on connection: any DatabaseConnection) throws(DatabaseError) {
        defer { values.removeAll(keepingCapacity: true) }
        let rows = values.count / Self.messageColumns
        guard rows > 0 else { return }
        if rows >= Self.copyThreshold, let copy = sql.copyMessages, let postgres = connection as? PostgresConnection {
            return try postgres.copyRows(copy, values, columns: Self.messageColumns)
        }
        var start = 0
        var remaining = rows
        for (size, statement) in zip(Self.messageStatementSizes, insertMessagesSQL) {
            while remaining >= size {
                let end = start + size * Self.messageColumns
                if start == 0, end == values.count {
                    try connection.fetch(statement, values)
                } else {
                    try connection.fetch(statement, Array(values[start..<end]))
                }
                start = end
                remaining -= size
            }
        }
    }

    /// `INSERT INTO messages … VALUES (…), (…)` for `rows` rows, in `dialect`'s placeholders.
    private static func insertMessagesSQL(rows: Int, _ dialect: SQLDialect) -> String {
        if rows == 1 { return HistorySQL.forDialect(dialect).insertMessage }
        let mark = dialect == .sqlite ? "?" : "$"
        let tuples = (0..<rows).map { row in
            "(" + (1...messageColumns).map { "\(mark)\(row * messageColumns + $0)" }.joined(separator: ", ") + ")"
        }
        return "INSERT INTO messages (connection_id, nickname, kind, body, sent_at) VALUES " + tuples.joined(separator: ", ")
    }

    /// Reserves `count` visitor numbers (connection row ids) from the database's counter: the returned
    /// numbers are this caller's alone, on every server sharing the database, and higher than any reserved
    /// before. Commit the transaction before handing them out.
    public func reserveVisitorNumbers(_ count: Int, on connection: any DatabaseConnection) throws(DatabaseError) -> Range<Int64> {
        let result = try connection.fetch(sql.reserveVisitorNumbers, [.integer(Int64(count))])
        guard let row = result.firstRow else {
            throw DatabaseError(
                .decodingFailed, message: "the visitor counter has no row", sql: sql.reserveVisitorNumbers, column: "first")
        }
        let first = try row.decode("first", as: Int64.self)
        return first..<(first + Int64(count))
    }

    /// Gives back `unused` numbers (the tail of a reservation, at shutdown) if nobody has reserved since:
    /// the next server start then goes on from there instead of skipping them.
    public func returnVisitorNumbers(_ unused: Range<Int64>, on connection: any DatabaseConnection) throws(DatabaseError) {
        try connection.fetch(sql.returnVisitorNumbers, [.integer(unused.lowerBound), .integer(unused.upperBound)])
    }

    private func nextVisitorNumber(on connection: any DatabaseConnection) throws(DatabaseError) -> Int64 {
        try reserveVisitorNumbers(1, on: connection).lowerBound
    }

    // MARK: - Reads

    /// The last `limit` public lines, oldest first.
    public func recentMessages(limit: Int, on connection: any DatabaseConnection) throws(DatabaseError) -> [StoredMessage] {
        let newestFirst = try connection.fetch(sql.recentMessages, [.integer(Int64(limit))]).decodeRows {
            row throws(DatabaseError) in
            StoredMessage(
                nickname: try row.decode("nickname"), kind: try row.decode("kind"), body: try row.decode("body"),
                sentAt: try row.decode("sent_at"))
        }
        return newestFirst.reversed()
    }

    /// When `nickname` (any case) was last seen leaving or speaking, with the nickname as it was spelled
    /// then, or `nil` if never.
    public func lastSeen(nickname: String, on connection: any DatabaseConnection) throws(DatabaseError) -> SeenRecord? {
        guard let row = try connection.fetch(sql.lastSeen, [.text(nickname)]).firstRow else { return nil }
        return SeenRecord(nickname: try row.decode("nickname"), at: try row.decode("seen_at"))
    }

    /// Accepted connections ever recorded (refusals excluded): `/count`'s visit total at start-up.
    public func totalVisits(on connection: any DatabaseConnection) throws(DatabaseError) -> Int64 {
        let result = try connection.fetch(sql.totalVisits, [])
        guard let row = result.firstRow else {
            throw DatabaseError(.decodingFailed, message: "count(*) returned no row", sql: sql.totalVisits, column: "visits")
        }
        return try row.decode("visits")
    }

    /// The newest `limit` connection rows, newest first.
    public func connections(limit: Int, on connection: any DatabaseConnection) throws(DatabaseError) -> [ConnectionRecord] {
        try connection.fetch(sql.listConnections, [.integer(Int64(limit))]).decodeRows { row throws(DatabaseError) in
            ConnectionRecord(
                id: try row.decode("id"), peer: try row.decode("peer"), nickname: try row.decodeIfPresent("nickname"),
                connectedAt: try row.decode("connected_at"), disconnectedAt: try row.decodeIfPresent("disconnected_at"),
                closeReason: try row.decodeIfPresent("close_reason"),
                linesIn: try row.decode("lines_in"), linesOut: try row.decode("lines_out"),
                bytesIn: try row.decode("bytes_in"), bytesOut: try row.decode("bytes_out"))
        }
    }
}

extension MessageKind: DatabaseDecodable {
    public init?(databaseValue: DatabaseValue) {
        guard case .text(let text) = databaseValue, let kind = MessageKind(rawValue: text) else { return nil }
        self = kind
    }

    public static var databaseDescription: String { "a message kind (say or me)" }
}
