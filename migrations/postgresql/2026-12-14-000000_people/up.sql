-- The stream model, part 2 (issue 13): private streams and DMs, read state, unread and
-- mention badges, the personal inbox of the `me` view. See the SQLite migration of the
-- same name for what each column means.
ALTER TABLE channels
    ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN access_id BIGINT REFERENCES channels (id);
ALTER TABLE messages ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE stream_members
    ADD COLUMN last_read_id BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN unread_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN mention_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN badge_id BIGINT NOT NULL DEFAULT 0;
UPDATE stream_members SET last_read_id = COALESCE((SELECT MAX(id) FROM messages), 0);
CREATE INDEX stream_members_badge ON stream_members (badge_id);

CREATE TABLE inbox (
    user_id BIGINT NOT NULL REFERENCES users (id),
    cursor BIGINT NOT NULL,
    kind TEXT NOT NULL,
    stream_id BIGINT NOT NULL REFERENCES channels (id),
    event_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, cursor)
);
CREATE INDEX inbox_cursor ON inbox (cursor);
CREATE INDEX inbox_mentions ON inbox (user_id, stream_id, event_id) WHERE kind = 'mention';
CREATE INDEX inbox_event ON inbox (event_id) WHERE kind = 'mention';

DROP TRIGGER channels_count ON channels;
CREATE TRIGGER channels_count AFTER INSERT ON channels
    FOR EACH ROW WHEN (NEW.kind = 'channel' AND NOT NEW.private) EXECUTE FUNCTION count_channel();
