-- The same as migrations/sqlite/2026-12-16-000000_pair_minutes, which explains it.
CREATE TABLE pair_minutes (
    channel_id BIGINT NOT NULL,
    minute BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    PRIMARY KEY (channel_id, minute, user_id)
);
CREATE INDEX pair_minutes_user ON pair_minutes (user_id, minute);
INSERT INTO pair_minutes (channel_id, minute, user_id, messages)
    SELECT channel_id, floor(sent_at / 60000.0)::bigint, user_id, count(*)
    FROM messages WHERE kind = 'message' AND NOT deleted AND NOT private GROUP BY 1, 2, 3;
