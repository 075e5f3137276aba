-- Nothing stored twice from a spool: every history batch a server commits records the sequence number of
-- its last event here, in the same transaction, so a replay of what a stop (or an outage) left in the spool
-- skips what did reach the database. A table of its own, not a column of `servers`: a batch stalled on a
-- lock must not hold the row the server's heartbeat writes. The database's identity names it in spool
-- files, so a spool is only ever replayed into the database it was written for.
CREATE TABLE history_progress (
    server_id     INTEGER PRIMARY KEY,
    last_sequence INTEGER NOT NULL
);

CREATE TABLE database_identity (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id        TEXT    NOT NULL
);

INSERT INTO database_identity (singleton, id) VALUES (1, lower(hex(randomblob(16))));
