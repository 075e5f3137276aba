-- Nothing stored twice from a spool: every history batch a server commits records the sequence number of
-- its last event in its servers row, so a replay of what a stop (or an outage) left in the spool skips what
-- did reach the database. The database's identity names it in spool files, so a spool is only ever replayed
-- into the database it was written for.
ALTER TABLE servers ADD COLUMN history_sequence INTEGER NOT NULL DEFAULT 0;

CREATE TABLE database_identity (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id        TEXT    NOT NULL
);

INSERT INTO database_identity (singleton, id) VALUES (1, lower(hex(randomblob(16))));
