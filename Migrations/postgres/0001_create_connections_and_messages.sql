-- Connection history and public chat lines. The connection id doubles as the visitor number.
CREATE TABLE connections (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    peer            TEXT        NOT NULL,
    nickname        TEXT,
    connected_at    TIMESTAMPTZ NOT NULL,
    disconnected_at TIMESTAMPTZ,
    close_reason    TEXT,
    lines_in        BIGINT      NOT NULL DEFAULT 0,
    lines_out       BIGINT      NOT NULL DEFAULT 0,
    bytes_in        BIGINT      NOT NULL DEFAULT 0,
    bytes_out       BIGINT      NOT NULL DEFAULT 0
);

CREATE INDEX connections_nickname_lower ON connections (lower(nickname));
CREATE INDEX connections_open ON connections (id) WHERE disconnected_at IS NULL;

CREATE TABLE messages (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id BIGINT      NOT NULL REFERENCES connections (id),
    nickname      TEXT        NOT NULL,
    kind          TEXT        NOT NULL CHECK (kind IN ('say', 'me')),
    body          TEXT        NOT NULL,
    sent_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX messages_nickname_lower ON messages (lower(nickname));
