-- The dashboard's connections per minute and visits per day are kept beside `connections`, a few rows a
-- history batch, instead of two indexes on its time columns that every connection paid for (an entry when
-- it began, another when it ended): `connection_minutes` counts, per UTC minute, the rows that are not
-- refusals by the minute they began (`connects`) and ended (`disconnects`). Whatever writes those columns
-- (the history writer, start-up repair, a survivor closing a lost server's rows, a rejoin reopening them)
-- adds to it in the same transaction, after the rows it changed.
CREATE TABLE connection_minutes (
    minute      TEXT COLLATE "C" PRIMARY KEY,  -- 2026-12-07T17:05 (UTC); compared as bytes
    connects    BIGINT NOT NULL,
    disconnects BIGINT NOT NULL
);

INSERT INTO connection_minutes (minute, connects, disconnects)
SELECT minute, sum(connects), sum(disconnects) FROM (
    SELECT to_char(connected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') AS minute, 1 AS connects, 0 AS disconnects
    FROM connections WHERE close_reason IS NULL OR close_reason NOT LIKE 'refused:%'
    UNION ALL
    SELECT to_char(disconnected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), 0, 1
    FROM connections WHERE disconnected_at IS NOT NULL AND (close_reason IS NULL OR close_reason NOT LIKE 'refused:%')) AS rows
GROUP BY minute;

DROP INDEX connections_connected_at;
DROP INDEX connections_disconnected_at;
