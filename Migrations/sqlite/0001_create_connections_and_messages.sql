-- Connection history and public chat lines. Times are ISO 8601 UTC text (2026-11-25T15:13:59.123456Z),
-- which sorts correctly as text. The connection id doubles as the visitor number.
CREATE TABLE connections (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    peer            TEXT    NOT NULL,
    nickname        TEXT,
    connected_at    TEXT    NOT NULL,
    disconnected_at TEXT,
    close_reason    TEXT,
    lines_in        INTEGER NOT NULL DEFAULT 0,
    lines_out       INTEGER NOT NULL DEFAULT 0,
    bytes_in        INTEGER NOT NULL DEFAULT 0,
    bytes_out       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX connections_nickname_lower ON connections (lower(nickname));
CREATE INDEX connections_open ON connections (id) WHERE disconnected_at IS NULL;

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id INTEGER NOT NULL REFERENCES connections (id),
    nickname      TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('say', 'me')),
    body          TEXT    NOT NULL,
    sent_at       TEXT    NOT NULL
);

CREATE INDEX messages_nickname_lower ON messages (lower(nickname));
