-- Cluster mode's nickname claims (see the PostgreSQL migration of the same number). Several servers need
-- PostgreSQL, so on SQLite this table stays empty; it exists so both dialects have the same schema.
CREATE TABLE nicknames (
    nickname_key  TEXT    PRIMARY KEY,
    nickname      TEXT    NOT NULL,
    server_id     INTEGER NOT NULL REFERENCES servers (id),
    connection_key INTEGER NOT NULL,
    claimed_at    INTEGER NOT NULL
);

CREATE INDEX nicknames_by_holder ON nicknames (server_id, connection_key);
