-- Visitor numbers (connection row ids) come from this counter. A server reserves them in blocks
-- (UPDATE … RETURNING, serialised by the row lock, so servers sharing the database never overlap), so a
-- welcome does not wait for an insert; every connections row takes its id from here (OVERRIDING SYSTEM
-- VALUE). Numbers stay unique and increasing across restarts; a block a stopped server did not use is
-- skipped, as a sequence's cache is.
CREATE TABLE visitor_counter (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    next_id   BIGINT  NOT NULL
);

INSERT INTO visitor_counter (next_id)
SELECT GREATEST(
    COALESCE((SELECT MAX(id) FROM connections), 0),
    COALESCE((SELECT last_value FROM pg_sequences
              WHERE schemaname || '.' || sequencename = pg_get_serial_sequence('connections', 'id')), 0)) + 1;
