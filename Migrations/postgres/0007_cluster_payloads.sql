-- Cluster mode (several servers on one PostgreSQL database): a payload too large for a NOTIFY (over 7999
-- bytes: a chat line near --max-line's 65536, sanitised) travels through this table. The sender inserts the
-- row and NOTIFYs its id in one statement, listing as readers (unread) every server then running but
-- itself; each reader removes itself from unread as it reads the row, and the last one deletes it. Rows
-- nobody running is left to read (their readers stopped or were lost), and rows older than a minute, are
-- swept by the next sender. Several servers need PostgreSQL, so SQLite has no such table (like
-- server_visits).
CREATE TABLE cluster_payloads (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin     BIGINT      NOT NULL,
    unread     BIGINT[]    NOT NULL,
    payload    TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX cluster_payloads_by_age ON cluster_payloads (created_at);
