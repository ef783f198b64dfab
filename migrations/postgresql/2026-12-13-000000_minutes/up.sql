-- The same as migrations/sqlite/2026-12-13-000000_minutes, which explains it.
CREATE TABLE channel_minutes (
    channel_id BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    PRIMARY KEY (channel_id, minute)
);
CREATE INDEX channel_minutes_minute ON channel_minutes (minute);
CREATE TABLE user_minutes (
    user_id BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    PRIMARY KEY (user_id, minute)
);
CREATE INDEX user_minutes_minute ON user_minutes (minute);
CREATE TABLE all_minutes (
    minute BIGINT PRIMARY KEY NOT NULL,
    messages BIGINT NOT NULL
);
INSERT INTO channel_minutes (channel_id, minute, messages)
    SELECT channel_id, floor(sent_at / 60000.0)::bigint, count(*)
    FROM messages WHERE kind = 'message' AND NOT deleted GROUP BY 1, 2;
INSERT INTO user_minutes (user_id, minute, messages)
    SELECT user_id, floor(sent_at / 60000.0)::bigint, count(*)
    FROM messages WHERE kind = 'message' AND NOT deleted GROUP BY 1, 2;
INSERT INTO all_minutes (minute, messages)
    SELECT minute, sum(messages) FROM channel_minutes GROUP BY minute;
