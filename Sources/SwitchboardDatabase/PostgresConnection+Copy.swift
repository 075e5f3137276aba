import CLibPQ
import SwitchboardProtocol

/// Many rows at once through `COPY … FROM STDIN`: one statement and one stream of rows, not a prepared statement
/// (and a round trip) per 64 rows. Under a flood of chat lines it took the pool thread's CPU per stored line
/// from 2.2 to 0.6–0.9 µs, and the history backend's from about 1.4× what `COPY` through psql costs for the
/// same rows to about the same (Benchmarks/history-rate.sh, results of 2026-12-07).
///
/// ```
/// copyRows(sql, values, columns: 3)   sql = "COPY t (a, b, c) FROM STDIN"
///
///   values  [.integer(7), .text("a\tb"), .null, .integer(8), .text("x"), .text("")]
///   stream  7 \t a \\ t b \t \N \n  8 \t x \t  \n        (COPY's text format: \\ \t \n \r escaped, NULL is \N)
///
///   PQexec(sql) ─▶ PGRES_COPY_IN ─▶ PQputCopyData(stream, 1 MiB at a time) ─▶ PQputCopyEnd
///               ─▶ PQgetResult until NULL: PGRES_COMMAND_OK, or the failure (SQLSTATE, primary message)
/// ```
///
/// The stream is built before the COPY starts, so a value that cannot be sent (text with NUL) fails the call
/// without touching the connection. A failure reported by the server (a foreign key, a bad value) is a
/// ``DatabaseError`` with its SQLSTATE and the COPY statement; a value the server quotes back is replaced by
/// `***`, as for ``fetch(_:_:)``. A connection that breaks mid-stream is marked unusable.
///
/// Thread ownership: as the connection's, a pool thread; every libpq call goes through ``BlockingCallGuard``.
extension PostgresConnection {
    /// Streams `values` into the table and columns named by `sql`, a `COPY … FROM STDIN` statement, inside the
    /// caller's transaction: `columns` values a row, row after row (`[r1c1, …, r1cN, r2c1, …]`), rows kept in
    /// order. Text may not contain NUL. On failure the transaction is to be rolled back; the error carries the
    /// SQLSTATE and `sql`, never a value.
    public func copyRows(_ sql: String, _ values: [DatabaseValue], columns: Int) throws(DatabaseError) {
        let conn = try openHandle(sql)
        guard columns > 0, values.count % columns == 0 else {
            throw DatabaseError(
                .statementFailed, message: "\(values.count) values do not make rows of \(columns) columns", sql: sql)
        }
        guard !values.isEmpty else { return }
        let stream = try PostgresConnection.copyText(values, columns: columns, sql: sql)

        BlockingCallGuard.checkDatabaseCall("PQexec")
        let started = PQexec(conn, sql)
        defer { PQclear(started) }
        BlockingCallGuard.checkDatabaseCall("PQresultStatus")
        guard let started, PQresultStatus(started) == PGRES_COPY_IN else {
            try check(started, conn, sql: sql, binds: [])
            throw DatabaseError(.statementFailed, message: "the statement did not start a COPY FROM STDIN", sql: sql)
        }

        var sent: Int32 = 1
        stream.withUnsafeBufferPointer { bytes in
            var offset = 0
            while offset < bytes.count && sent == 1 {
                let length = min(PostgresConnection.copyChunk, bytes.count - offset)
                BlockingCallGuard.checkDatabaseCall("PQputCopyData")
                sent = PQputCopyData(conn, bytes.baseAddress! + offset, Int32(length))
                offset += length
            }
        }
        if sent == 1 {
            BlockingCallGuard.checkDatabaseCall("PQputCopyEnd")
            sent = PQputCopyEnd(conn, nil)
        }
        guard sent == 1 else {
            // In blocking mode libpq fails a copy call only when the connection is gone.
            isUsable = false
            throw DatabaseError(.connectionLost, message: errorMessage(conn), sql: sql)
        }

        var failure: DatabaseError?
        while true {
            BlockingCallGuard.checkDatabaseCall("PQgetResult")
            guard let result = PQgetResult(conn) else { break }
            defer { PQclear(result) }
            guard failure == nil else { continue }
            do {
                try check(result, conn, sql: sql, binds: values)
            } catch {
                failure = error
                // A result still in COPY mode: the connection is of no further use (check() marked it so), and
                // PQgetResult would hand the same state back for ever.
                if !isUsable { break }
            }
        }
        if let failure { throw failure }
    }

    /// Bytes handed to libpq per `PQputCopyData` call.
    static let copyChunk = 1 << 20

    /// `values` in COPY's text format: columns separated by tabs, rows ended by newlines, `\N` for NULL, and
    /// backslash, tab, newline and carriage return escaped in text. Throws for text holding NUL.
    static func copyText(_ values: [DatabaseValue], columns: Int, sql: String) throws(DatabaseError) -> [CChar] {
        var stream: [CChar] = []
        stream.reserveCapacity(values.count * 16)
        for (index, value) in values.enumerated() {
            switch value {
            case .null:
                stream.append(contentsOf: [backslash, CChar(UInt8(ascii: "N"))])
            case .integer(let integer):
                var digits = String(integer)
                digits.withUTF8 { bytes in
                    stream.append(contentsOf: UnsafeRawBufferPointer(bytes).bindMemory(to: CChar.self))
                }
            case .text(var text):
                var hasNUL = false
                text.withUTF8 { bytes in
                    for byte in bytes {
                        switch byte {
                        case 0: hasNUL = true
                        case UInt8(ascii: "\\"): stream.append(contentsOf: [backslash, backslash])
                        case UInt8(ascii: "\t"): stream.append(contentsOf: [backslash, CChar(UInt8(ascii: "t"))])
                        case UInt8(ascii: "\n"): stream.append(contentsOf: [backslash, CChar(UInt8(ascii: "n"))])
                        case UInt8(ascii: "\r"): stream.append(contentsOf: [backslash, CChar(UInt8(ascii: "r"))])
                        default: stream.append(CChar(bitPattern: byte))
                        }
                    }
                }
                if hasNUL {
                    throw DatabaseError(
                        .statementFailed,
                        message: "a text value contains a NUL character, which PostgreSQL cannot store", sql: sql)
                }
            }
            stream.append(CChar(UInt8(ascii: index % columns == columns - 1 ? "\n" : "\t")))
        }
        return stream
    }

    private static let backslash = CChar(UInt8(ascii: "\\"))
}
