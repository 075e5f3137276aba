-- /count's visit total without counting the whole connections table: one row per server (server_id 0 for
-- rows from before servers registered) holding how many accepted connections (refusals excluded) it
-- recorded, kept by a trigger in the transaction that inserts the rows, so the sum always equals
--     SELECT count(*) FROM connections WHERE close_reason IS NULL OR close_reason NOT LIKE 'refused:%'
-- and reading it costs a handful of rows however long the history. Each server's history writer updates
-- its own row, so servers never wait for each other here. Servers read the sum at start and at every
-- heartbeat (cluster mode), so their totals agree within one heartbeat interval.
CREATE TABLE server_visits (
    server_id BIGINT PRIMARY KEY,
    visits    BIGINT NOT NULL
);

-- No row may be inserted between the count below and the trigger's creation (a server of an older
-- version still running during an upgrade waits here for a moment).
LOCK TABLE connections IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO server_visits (server_id, visits)
SELECT COALESCE(server_id, 0), count(*) FROM connections
WHERE close_reason IS NULL OR close_reason NOT LIKE 'refused:%'
GROUP BY 1;

CREATE FUNCTION count_server_visits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO server_visits AS counted (server_id, visits)
    SELECT COALESCE(server_id, 0), count(*) FROM inserted
    WHERE close_reason IS NULL OR close_reason NOT LIKE 'refused:%'
    GROUP BY 1
    ON CONFLICT (server_id) DO UPDATE SET visits = counted.visits + EXCLUDED.visits;
    RETURN NULL;
END
$$;

CREATE TRIGGER connections_count_visits AFTER INSERT ON connections
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION count_server_visits();
