-- Visitor numbers (connection row ids) come from this counter. A server reserves them in blocks
-- (UPDATE … RETURNING), so a welcome does not wait for an insert; every connections row takes its id
-- from here. Numbers stay unique and increasing across restarts; a block a stopped server did not use
-- is skipped, as a sequence's cache is.
CREATE TABLE visitor_counter (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    next_id   INTEGER NOT NULL
);

INSERT INTO visitor_counter (singleton, next_id)
SELECT 1, MAX(COALESCE((SELECT MAX(id) FROM connections), 0),
              COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'connections'), 0)) + 1;
