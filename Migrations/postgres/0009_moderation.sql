-- People and moderation (issue 22). Operators and registered nicknames keep a slow salted hash only
-- (scrypt, self-describing: scrypt$LOGN$R$P$SALT$HASH, base64), never a password. Bans, mutes and the
-- message of the day are what every server sharing this database enforces; moderation_version is bumped
-- by a trigger on each change to them (an edit made directly in the database included), so a server
-- polling that one row learns within its poll interval that it must reload. The log records every operator
-- action: who, what, target, reason, when.
CREATE TABLE operators (
    name_key      TEXT        PRIMARY KEY,
    name          TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

-- kind 'network': target is a CIDR in canonical form (10.0.0.0/8, 2001:db8::/64; one host is /32 or
-- /128); kind 'nickname': target is the nickname's key (ASCII lowercased). expires_at NULL: permanent.
CREATE TABLE bans (
    kind       TEXT        NOT NULL CHECK (kind IN ('network', 'nickname')),
    target     TEXT        NOT NULL,
    reason     TEXT        NOT NULL DEFAULT '',
    set_by     TEXT        NOT NULL,
    set_at     TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    PRIMARY KEY (kind, target)
);

CREATE TABLE mutes (
    nickname_key TEXT        PRIMARY KEY,
    nickname     TEXT        NOT NULL,
    set_by       TEXT        NOT NULL,
    set_at       TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ
);

-- One row at most (id = 1).
CREATE TABLE motd (
    id     INTEGER     PRIMARY KEY CHECK (id = 1),
    body   TEXT        NOT NULL,
    set_by TEXT        NOT NULL,
    set_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE registered_nicknames (
    nickname_key  TEXT        PRIMARY KEY,
    nickname      TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE moderation_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    acted_at  TIMESTAMPTZ NOT NULL,
    actor     TEXT        NOT NULL,
    action    TEXT        NOT NULL,
    target    TEXT        NOT NULL DEFAULT '',
    reason    TEXT        NOT NULL DEFAULT ''
);

CREATE TABLE moderation_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO moderation_version (id, version) VALUES (1, 0);

CREATE FUNCTION switchboard_moderation_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE moderation_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER bans_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bans
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard_moderation_changed();
CREATE TRIGGER mutes_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mutes
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard_moderation_changed();
CREATE TRIGGER motd_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON motd
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard_moderation_changed();
CREATE TRIGGER registered_nicknames_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON registered_nicknames
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard_moderation_changed();
