-- What the dashboard and /seen read about chat lines is kept beside them, a few rows a batch, instead of two
-- indexes on `messages` that every stored line paid for: `message_hours` counts lines per UTC hour (the
-- dashboard's lines per day and per weekday-hour), and `nickname_last_said` holds each nickname's last line
-- (/seen). The history writer adds to both in the transaction that stores the lines, so they agree with
-- `messages`; it takes their row locks in key order, at the end of the transaction.
CREATE TABLE message_hours (
    hour  TEXT COLLATE "C" PRIMARY KEY,  -- 2026-12-07T17 (UTC); compared as bytes
    lines BIGINT NOT NULL
);

CREATE TABLE nickname_last_said (
    nickname_key TEXT        PRIMARY KEY,  -- lower(nickname), as /seen looks it up
    nickname     TEXT        NOT NULL,     -- as it was said
    said_at      TIMESTAMPTZ NOT NULL
);

INSERT INTO message_hours (hour, lines)
SELECT to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), count(*) FROM messages GROUP BY 1;

INSERT INTO nickname_last_said (nickname_key, nickname, said_at)
SELECT DISTINCT ON (lower(nickname)) lower(nickname), nickname, sent_at FROM messages
ORDER BY lower(nickname), sent_at DESC, id DESC;

DROP INDEX messages_sent_at;
DROP INDEX messages_nickname_lower;
