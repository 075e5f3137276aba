import NIOCore

/// How ``NotifyTransport`` carries a payload too large for a NOTIFY (over
/// ``NotifyTransport/inlinePayloadLimit``): through the `cluster_payloads` table (PostgreSQL migration 7).
///
/// ```
///  sender (notify thread), one statement:
///     INSERT INTO cluster_payloads (origin, unread, payload)   unread = every running server but the sender
///     pg_notify('CHANNEL:large', 'ORIGIN ID')                   delivered at commit, so the row is there
///
///  reader (listen thread, on its LISTEN connection, in the order of the notifications):
///     SELECT payload … WHERE id = ANY(ids)      and, in the same statement, its id removed from `unread`
///     DELETE … WHERE id = ANY(emptied)          the last listed reader deletes the row
///
///  any sender, at most every sweepInterval:
///     DELETE … WHERE created_at is older than maximumAge, or no running server is left in `unread`
/// ```
///
/// A server that starts after a row was stored is not listed as its reader and does not need it (it was not
/// listening when the NOTIFY went out). Stopped and lost servers (`servers.stopped_at` set) leave their rows
/// to the sweep. A reader that finds a row gone reports the payload as dropped, like one its inbox had no
/// room for; the cluster then asks for the rosters again.
///
/// Pure: the statements and the reference format; the transport's threads run them.
package enum LargePayloadTable {
    /// The references travel on the transport's channel with this suffix, so that no small payload can be
    /// taken for one.
    package static let channelSuffix = ":large"
    /// A row older than this is swept whoever has not read it: by then a reader that has not is far behind
    /// (or gone) and re-syncs anyway.
    package static let maximumAge = TimeAmount.seconds(60)
    /// How often a sender sweeps, at most.
    package static let sweepInterval = TimeAmount.seconds(5)

    /// What a reference NOTIFY says: who stored the payload, and its row.
    package struct Reference: Equatable, Sendable {
        package let origin: Int64
        package let id: Int64

        package init(origin: Int64, id: Int64) {
            self.origin = origin
            self.id = id
        }

        /// `ORIGIN ID`, or `nil` when the text is not a reference.
        package init?(parsing text: String) {
            let fields = text.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, let origin = Int64(fields[0]), let id = Int64(fields[1]) else { return nil }
            self.init(origin: origin, id: id)
        }

        package var text: String { "\(origin) \(id)" }
    }

    /// `{1,2,3}`: a `bigint[]` literal for a text parameter.
    package static func arrayLiteral(_ ids: [Int64]) -> String {
        "{" + ids.map(String.init).joined(separator: ",") + "}"
    }

    /// The interval literal of `age` for a text parameter (`60 seconds`).
    package static func intervalLiteral(_ age: TimeAmount) -> String {
        "\(Double(age.nanoseconds) / 1e9) seconds"
    }

    /// Stores a payload and NOTIFYs its reference, in one statement (one transaction: the reference is
    /// delivered at commit, when the row is there). $1 the references' channel, $2 the sender's server id,
    /// $3 the payload. Readers: every server not stopped, but the sender.
    package static let storeSQL = """
        WITH stored AS (
            INSERT INTO cluster_payloads (origin, unread, payload)
            VALUES ($2::bigint, ARRAY(SELECT id FROM servers WHERE stopped_at IS NULL AND id <> $2::bigint), $3)
            RETURNING id
        )
        SELECT pg_notify($1, $2::bigint::text || ' ' || id::text) FROM stored
        """

    /// Reads the rows `$1` (a `bigint[]`) and marks them read by server `$2`, where it is listed: returns
    /// each row's `id`, `payload` and `unread` (how many listed readers are left, NULL where `$2` was not
    /// listed). Rows gone are missing from the answer.
    package static let readSQL = """
        WITH marked AS (
            UPDATE cluster_payloads SET unread = array_remove(unread, $2::bigint)
            WHERE id = ANY($1::bigint[]) AND $2::bigint = ANY(unread)
            RETURNING id, cardinality(unread) AS unread
        )
        SELECT p.id, p.payload, m.unread FROM cluster_payloads p LEFT JOIN marked m ON m.id = p.id
        WHERE p.id = ANY($1::bigint[])
        """

    /// Deletes the rows `$1` whose every listed reader has read them.
    package static let deleteReadSQL =
        "DELETE FROM cluster_payloads WHERE id = ANY($1::bigint[]) AND cardinality(unread) = 0"

    /// Deletes rows older than `$1` (an interval), and rows no running server is left to read.
    package static let sweepSQL = """
        DELETE FROM cluster_payloads
        WHERE created_at < clock_timestamp() - $1::interval
           OR NOT (unread && ARRAY(SELECT id FROM servers WHERE stopped_at IS NULL))
        """
}
