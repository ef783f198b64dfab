-- The stream model (issue 12, PROTOCOL.md section 8), built into the v1 tables so a v1
-- database upgrades in place without copying a row: every channel is a public `channel`
-- stream with the same id, every message a `message` event with the same id.
--
-- `channels` holds every stream. `name` stays its unique key: a channel's slug (the v1 name
-- rule), or `~<id>` for a thread or incident, which no v1 name can be. `title` is an
-- incident's or thread's name.
ALTER TABLE channels ADD COLUMN kind TEXT NOT NULL DEFAULT 'channel';
ALTER TABLE channels ADD COLUMN title TEXT;
ALTER TABLE channels ADD COLUMN description TEXT;
ALTER TABLE channels ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE channels ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE channels ADD COLUMN parent_stream_id BIGINT REFERENCES channels (id);
ALTER TABLE channels ADD COLUMN branched_from_event_id BIGINT;
ALTER TABLE channels ADD COLUMN promoted_at BIGINT;
ALTER TABLE channels ADD COLUMN promoted_by TEXT;
ALTER TABLE channels ADD COLUMN metadata TEXT;
ALTER TABLE channels ADD COLUMN created_at BIGINT;
ALTER TABLE channels ADD COLUMN archived_at BIGINT;
-- One thread per event: a second branch from the same event finds the first.
CREATE UNIQUE INDEX channels_branched_from ON channels (branched_from_event_id)
    WHERE branched_from_event_id IS NOT NULL;
CREATE INDEX channels_parent ON channels (parent_stream_id) WHERE parent_stream_id IS NOT NULL;
CREATE INDEX channels_kind ON channels (kind, id);
-- A v1 channel was created by its first message.
UPDATE channels SET created_at = (SELECT sent_at FROM messages WHERE channel_id = channels.id ORDER BY id LIMIT 1);

-- `total_channels` counts streams of kind `channel` (a promotion to one adds it in code).
DROP TRIGGER channels_count;
CREATE TRIGGER channels_count AFTER INSERT ON channels WHEN new.kind = 'channel' BEGIN
    UPDATE meta SET total_channels = total_channels + 1 WHERE id = 1;
END;

-- `messages` is the one event log: its id is the cursor of everything. `kind` is the
-- event type, `payload` its own fields (JSON), `target_id` the event an edit, delete or
-- share is about. A message's row holds its current state: edited text and `edited_at`,
-- or `deleted` (text emptied).
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
ALTER TABLE messages ADD COLUMN payload TEXT;
ALTER TABLE messages ADD COLUMN target_id BIGINT;
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT 0;

-- Who joined which stream; `owner` for whoever created it.
CREATE TABLE stream_members (
    stream_id BIGINT NOT NULL REFERENCES channels (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL DEFAULT 'member',
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);
CREATE INDEX stream_members_user ON stream_members (user_id);
