-- Per-minute message counts per (channel, user) pair (issue 16, live top lists): what a
-- channel's top users and a user's top channels sum over a window, and what leaves a
-- window each minute. Public messages only (a private message counts for its stream
-- alone); kept by the inserting transaction and a delete's, like the other rollups.
-- Its sums per user and minute are `user_minutes`.
CREATE TABLE pair_minutes (
    channel_id BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    PRIMARY KEY (channel_id, minute, user_id)
) WITHOUT ROWID;
CREATE INDEX pair_minutes_user ON pair_minutes (user_id, minute);
-- What is stored already (a one-time scan at upgrade).
INSERT INTO pair_minutes (channel_id, minute, user_id, messages)
    SELECT channel_id, (sent_at - ((sent_at % 60000) + 60000) % 60000) / 60000, user_id, count(*)
    FROM messages WHERE kind = 'message' AND NOT deleted AND NOT private GROUP BY 1, 2, 3;
