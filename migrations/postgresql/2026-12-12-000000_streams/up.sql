-- The stream model (issue 12): the same as migrations/sqlite/2026-12-12-000000_streams,
-- which explains it. Adding a column with a constant default rewrites no row.
ALTER TABLE channels
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'channel',
    ADD COLUMN title TEXT,
    ADD COLUMN description TEXT,
    ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public',
    ADD COLUMN status TEXT NOT NULL DEFAULT 'active',
    ADD COLUMN parent_stream_id BIGINT REFERENCES channels (id),
    ADD COLUMN branched_from_event_id BIGINT,
    ADD COLUMN promoted_at BIGINT,
    ADD COLUMN promoted_by TEXT,
    ADD COLUMN metadata TEXT,
    ADD COLUMN created_at BIGINT,
    ADD COLUMN archived_at BIGINT;
CREATE UNIQUE INDEX channels_branched_from ON channels (branched_from_event_id)
    WHERE branched_from_event_id IS NOT NULL;
CREATE INDEX channels_parent ON channels (parent_stream_id) WHERE parent_stream_id IS NOT NULL;
CREATE INDEX channels_kind ON channels (kind, id);
UPDATE channels SET created_at = (SELECT sent_at FROM messages WHERE channel_id = channels.id ORDER BY id LIMIT 1);

DROP TRIGGER channels_count ON channels;
CREATE TRIGGER channels_count AFTER INSERT ON channels
    FOR EACH ROW WHEN (NEW.kind = 'channel') EXECUTE FUNCTION count_channel();

ALTER TABLE messages
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'message',
    ADD COLUMN payload TEXT,
    ADD COLUMN target_id BIGINT,
    ADD COLUMN edited_at BIGINT,
    ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE stream_members (
    stream_id BIGINT NOT NULL REFERENCES channels (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL DEFAULT 'member',
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);
CREATE INDEX stream_members_user ON stream_members (user_id);
