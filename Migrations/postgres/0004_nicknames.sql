-- Cluster mode (several servers on one PostgreSQL database): who holds each nickname, across servers. A
-- server claims a name here before a member takes it (the primary key decides between servers, never a
-- race), releases it when the member leaves or renames, and claims again what its members hold after
-- contact with the database was lost. claimed_at is when the member took the name (µs since 1970, the
-- claiming server's clock): after a split the earlier claim keeps the name (ties: the lower server id).
-- Guest names (guest<visitor number>) are never claimed: visitor numbers are unique across servers.
CREATE TABLE nicknames (
    nickname_key  TEXT   PRIMARY KEY,
    nickname      TEXT   NOT NULL,
    server_id     BIGINT NOT NULL REFERENCES servers (id),
    connection_key BIGINT NOT NULL,
    claimed_at    BIGINT NOT NULL
);

CREATE INDEX nicknames_by_holder ON nicknames (server_id, connection_key);
