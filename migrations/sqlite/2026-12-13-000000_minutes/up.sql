-- Per-minute message counts per channel and per user (issue 16, rollups): kept by the
-- inserting transaction (and a delete's), so a chart or a top list over any window sums
-- these rows and never scans messages. `minute` is `sent_at` in whole minutes since the
-- Unix epoch (floor). Like every count, they hold live messages: a deleted one is taken out.
CREATE TABLE channel_minutes (
    channel_id BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    PRIMARY KEY (channel_id, minute)
) WITHOUT ROWID;
CREATE INDEX channel_minutes_minute ON channel_minutes (minute);
CREATE TABLE user_minutes (
    user_id BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    PRIMARY KEY (user_id, minute)
) WITHOUT ROWID;
CREATE INDEX user_minutes_minute ON user_minutes (minute);
-- Every message's minute, for the charts of everything (one row a minute, however many
-- channels).
CREATE TABLE all_minutes (
    minute BIGINT PRIMARY KEY NOT NULL,
    messages BIGINT NOT NULL
) WITHOUT ROWID;
-- What is stored already (a one-time scan at upgrade).
INSERT INTO channel_minutes (channel_id, minute, messages)
    SELECT channel_id, (sent_at - ((sent_at % 60000) + 60000) % 60000) / 60000, count(*)
    FROM messages WHERE kind = 'message' AND NOT deleted GROUP BY 1, 2;
INSERT INTO user_minutes (user_id, minute, messages)
    SELECT user_id, (sent_at - ((sent_at % 60000) + 60000) % 60000) / 60000, count(*)
    FROM messages WHERE kind = 'message' AND NOT deleted GROUP BY 1, 2;
INSERT INTO all_minutes (minute, messages)
    SELECT minute, sum(messages) FROM channel_minutes GROUP BY minute;
