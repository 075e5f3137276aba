-- Servers own their rows: each running server registers here and refreshes heartbeat_at every few
-- seconds, and every connection row records the server that wrote it. Start-up repair closes only rows of
-- servers that stopped or whose heartbeat is older than --server-timeout, never a live server's.
-- Times here are written with the database's clock (strftime), ISO 8601 UTC text like the other tables.
-- Rows written before this migration keep server_id NULL.
CREATE TABLE servers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    endpoints    TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    heartbeat_at TEXT    NOT NULL,
    stopped_at   TEXT
);

CREATE INDEX servers_running ON servers (heartbeat_at) WHERE stopped_at IS NULL;

ALTER TABLE connections ADD COLUMN server_id INTEGER REFERENCES servers (id);

CREATE INDEX connections_open_by_server ON connections (server_id) WHERE disconnected_at IS NULL;
