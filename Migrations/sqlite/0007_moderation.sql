-- People and moderation: the same tables as the PostgreSQL migration 0009_moderation (read its header).
-- Times are ISO 8601 UTC text, as elsewhere in the SQLite schema.
CREATE TABLE operators (
    name_key      TEXT        PRIMARY KEY,
    name          TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    created_at    TEXT        NOT NULL
);

-- kind 'network': target is a CIDR in canonical form (10.0.0.0/8, 2001:db8::/64; one host is /32 or
-- /128); kind 'nickname': target is the nickname's key (ASCII lowercased). expires_at NULL: permanent.
CREATE TABLE bans (
    kind       TEXT        NOT NULL CHECK (kind IN ('network', 'nickname')),
    target     TEXT        NOT NULL,
    reason     TEXT        NOT NULL DEFAULT '',
    set_by     TEXT        NOT NULL,
    set_at     TEXT        NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (kind, target)
);

CREATE TABLE mutes (
    nickname_key TEXT        PRIMARY KEY,
    nickname     TEXT        NOT NULL,
    set_by       TEXT        NOT NULL,
    set_at       TEXT        NOT NULL,
    expires_at   TEXT
);

-- One row at most (id = 1).
CREATE TABLE motd (
    id     INTEGER     PRIMARY KEY CHECK (id = 1),
    body   TEXT        NOT NULL,
    set_by TEXT        NOT NULL,
    set_at TEXT        NOT NULL
);

CREATE TABLE registered_nicknames (
    nickname_key  TEXT        PRIMARY KEY,
    nickname      TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    registered_at TEXT        NOT NULL
);

CREATE TABLE moderation_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    acted_at  TEXT        NOT NULL,
    actor     TEXT        NOT NULL,
    action    TEXT        NOT NULL,
    target    TEXT        NOT NULL DEFAULT '',
    reason    TEXT        NOT NULL DEFAULT ''
);

CREATE TABLE moderation_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO moderation_version (id, version) VALUES (1, 0);

-- Row triggers (SQLite has no statement triggers): a statement touching many rows bumps the version many
-- times, which is harmless, since a reader only asks whether it changed.
CREATE TRIGGER bans_insert AFTER INSERT ON bans
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bans_update AFTER UPDATE ON bans
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER bans_delete AFTER DELETE ON bans
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER mutes_insert AFTER INSERT ON mutes
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER mutes_update AFTER UPDATE ON mutes
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER mutes_delete AFTER DELETE ON mutes
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER motd_insert AFTER INSERT ON motd
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER motd_update AFTER UPDATE ON motd
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER motd_delete AFTER DELETE ON motd
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER registered_nicknames_insert AFTER INSERT ON registered_nicknames
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER registered_nicknames_update AFTER UPDATE ON registered_nicknames
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER registered_nicknames_delete AFTER DELETE ON registered_nicknames
    BEGIN UPDATE moderation_version SET version = version + 1 WHERE id = 1; END;
