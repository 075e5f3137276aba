-- Servers own their rows: each running server registers here and refreshes heartbeat_at every few
-- seconds, and every connection row records the server that wrote it. Start-up repair closes only rows of
-- servers that stopped or whose heartbeat is older than --server-timeout, never a live server's.
-- Times here are written with the database's clock (clock_timestamp()), so servers on hosts whose clocks
-- differ still agree on whose heartbeat is old. Rows written before this migration keep server_id NULL.
CREATE TABLE servers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host         TEXT        NOT NULL,
    pid          BIGINT      NOT NULL,
    endpoints    TEXT        NOT NULL,
    version      TEXT        NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    stopped_at   TIMESTAMPTZ
);

CREATE INDEX servers_running ON servers (heartbeat_at) WHERE stopped_at IS NULL;

ALTER TABLE connections ADD COLUMN server_id BIGINT REFERENCES servers (id);

CREATE INDEX connections_open_by_server ON connections (server_id) WHERE disconnected_at IS NULL;
