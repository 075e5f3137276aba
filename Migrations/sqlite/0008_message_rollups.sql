-- What the dashboard and /seen read about chat lines is kept beside them, a few rows a batch, instead of two
-- indexes on `messages` that every stored line paid for (together about 40 % of SQLite's cost per stored line):
-- `message_hours` counts lines per UTC hour (the dashboard's lines per day and per weekday-hour), and
-- `nickname_last_said` holds each nickname's last line (/seen). The history writer adds to both in the
-- transaction that stores the lines, so they agree with `messages`.
CREATE TABLE message_hours (
    hour  TEXT    PRIMARY KEY,  -- 2026-12-07T17 (UTC)
    lines INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE nickname_last_said (
    nickname_key TEXT PRIMARY KEY,  -- lower(nickname), as /seen looks it up
    nickname     TEXT NOT NULL,     -- as it was said
    said_at      TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO message_hours (hour, lines) SELECT substr(sent_at, 1, 13), count(*) FROM messages GROUP BY 1;

-- SQLite takes a bare column from the row that holds the max().
INSERT INTO nickname_last_said (nickname_key, nickname, said_at)
SELECT lower(nickname), nickname, max(sent_at) FROM messages GROUP BY lower(nickname);

DROP INDEX messages_sent_at;
DROP INDEX messages_nickname_lower;
