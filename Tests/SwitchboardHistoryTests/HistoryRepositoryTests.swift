import SwitchboardTestSupport
import XCTest
import SwitchboardDatabase
import SwitchboardHistory

/// The repository's reads on both backends: a stored row that does not decode fails the read, naming the
/// column, instead of vanishing from it.
final class HistoryRepositoryTests: XCTestCase {
    /// A message row with a kind the code does not know (a newer version wrote it, or a hand edit) makes
    /// `/history`'s read fail naming `kind`, rather than leaving the line out.
    func testUndecodableMessageRowFailsTheReadNamingTheColumn() async throws {
        try await forEachDatabase { db in
            let dialect = db.pool.url.dialect
            _ = try await db.awaitOnLoop { $0.connectionOpened(ConnectionKey(1), peer: "p", nickname: "ann", at: Timestamp.now()) }
            let insert = "INSERT INTO messages (connection_id, nickname, kind, body, sent_at) VALUES (1, 'ann', 'shout', 'HI', "
                + "\(placeholder(dialect, 1)))"
            try await db.pool.withConnection { connection throws(DatabaseError) in
                // Get past the schema's CHECK (kind IN ('say', 'me')), as a future version might.
                if dialect == .sqlite {
                    try connection.executeScript("PRAGMA ignore_check_constraints = ON")
                } else {
                    try connection.executeScript("ALTER TABLE messages DROP CONSTRAINT messages_kind_check")
                }
                try connection.query(insert, [.text(Timestamp.now().iso8601)])
                if dialect == .sqlite { try connection.executeScript("PRAGMA ignore_check_constraints = OFF") }
            }
            do {
                let messages = try await db.withRepository { repository, connection throws(DatabaseError) in
                    try repository.recentMessages(limit: 10, on: connection)
                }
                XCTFail("[\(dialect)] the row must not vanish: \(messages)")
            } catch let error as DatabaseError {
                XCTAssertEqual(error.kind, .decodingFailed)
                XCTAssertEqual(error.column, "kind")
                XCTAssertFalse(error.description.contains("shout"), "the value is not shown: \(error)")
            }
        }
    }

    /// A connection row whose time is not ISO 8601 (SQLite stores any text) fails `switchboard history`'s
    /// read naming `connected_at`.
    func testUndecodableConnectionRowFailsTheListingNamingTheColumn() async throws {
        try await forEachDatabase { db in
            guard db.pool.url.dialect == .sqlite else { return }  // PostgreSQL's timestamptz refuses such text
            _ = try await db.query("INSERT INTO connections (peer, connected_at) VALUES ('p', 'yesterday')")
            do {
                let records = try await db.connections(limit: 10)
                XCTFail("the row must not vanish: \(records)")
            } catch let error as DatabaseError {
                XCTAssertEqual(error.kind, .decodingFailed)
                XCTAssertEqual(error.column, "connected_at")
                XCTAssertEqual(error.message, "column connected_at holds text that is not an ISO 8601 UTC time")
            }
        }
    }

    /// A batch of chat lines is written together (SQLite: one prepared INSERT stepped per row; PostgreSQL:
    /// `COPY` from 16 lines in a row, prepared multi-row INSERTs below): 150 lines from two connections,
    /// interleaved with other connections' opens (runs of 71, 70 and 9 lines: COPY and INSERT both), all come
    /// back in order with their text — tabs and backslashes, which COPY escapes, included — kinds and authors.
    func testABatchOfLinesIsWrittenWholeAndInOrder() async throws {
        try await forEachDatabase { db in
            let now = Timestamp.now()
            _ = try await db.awaitOnLoop { $0.connectionOpened(ConnectionKey(1), peer: "a", nickname: "ann", at: now) }
            _ = try await db.awaitOnLoop { $0.connectionOpened(ConnectionKey(2), peer: "b", nickname: "bob", at: now) }
            try await db.onLoop { writer in
                for index in 0..<150 {
                    let (key, name) = index % 3 == 0 ? (ConnectionKey(2), "bob") : (ConnectionKey(1), "ann")
                    writer.messageSaid(key, nickname: name, kind: index % 5 == 0 ? .me : .say,
                                       body: "line \(index) 'quoted' é\tback\\slash", at: now)
                    if index == 70 {
                        _ = writer.connectionOpened(ConnectionKey(3), peer: "c", nickname: "cy", at: now)
                    }
                    if index == 140 {
                        _ = writer.connectionOpened(ConnectionKey(4), peer: "d", nickname: "di", at: now)
                    }
                }
            }
            try await db.flush()
            let messages = try await db.withRepository { repository, connection throws(DatabaseError) in
                try repository.recentMessages(limit: 500, on: connection)
            }
            XCTAssertEqual(messages.map(\.body), (0..<150).map { "line \($0) 'quoted' é\tback\\slash" })
            XCTAssertEqual(messages.map(\.nickname), (0..<150).map { $0 % 3 == 0 ? "bob" : "ann" })
            XCTAssertEqual(messages.map(\.kind), (0..<150).map { $0 % 5 == 0 ? MessageKind.me : .say })
            let rows = try await db.connections(limit: 10)
            XCTAssertEqual(rows.count, 4)
        }
    }

    /// Every listing column round-trips through both dialects' SQL, open rows included.
    func testConnectionsListEveryColumn() async throws {
        try await forEachDatabase { db in
            let connectedAt = Timestamp(microsecondsSinceEpoch: 1_764_083_639_123_456)
            let id = try await db.awaitOnLoop { $0.connectionOpened(ConnectionKey(1), peer: "[::1]:5000", nickname: "ann", at: connectedAt) }
            let records = try await db.connections(limit: 10)
            XCTAssertEqual(records, [
                ConnectionRecord(
                    id: id, peer: "[::1]:5000", nickname: "ann", connectedAt: connectedAt, disconnectedAt: nil,
                    closeReason: nil, linesIn: 0, linesOut: 0, bytesIn: 0, bytesOut: 0)
            ])
        }
    }
}
