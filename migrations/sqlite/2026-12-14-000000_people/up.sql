-- The stream model, part 2 (issue 13): private streams and DMs, read state, unread and
-- mention badges, the personal inbox of the `me` view.
--
-- `private` is a stream's effective privacy: a private channel or incident, a DM, or a
-- thread of any of them. `access_id` is the stream whose members may see it (itself, or
-- for a thread the private stream it was branched from, however deep). A private stream's
-- key is always `~<id>` (a private channel's slug is its `title`), so no public name,
-- conflict or v1 ingest ever meets it.
ALTER TABLE channels ADD COLUMN private BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN access_id BIGINT REFERENCES channels (id);
-- Copied from the stream at insert: v1 reads, counts and search leave private rows out
-- with one column of the row itself.
ALTER TABLE messages ADD COLUMN private BOOLEAN NOT NULL DEFAULT 0;

-- A member's read state and badges, kept exact by the write path: `unread_count` is the
-- messages by others after `last_read_id` that are not deleted, `mention_count` those of
-- them that mention the member. `badge_id` is the cursor of the last change to either, or
-- to the stream's state: what the `workspace` view sends and resumes from.
ALTER TABLE stream_members ADD COLUMN last_read_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stream_members ADD COLUMN unread_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stream_members ADD COLUMN mention_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stream_members ADD COLUMN badge_id BIGINT NOT NULL DEFAULT 0;
-- Whoever was a member before read everything so far.
UPDATE stream_members SET last_read_id = COALESCE((SELECT MAX(id) FROM messages), 0);
CREATE INDEX stream_members_badge ON stream_members (badge_id);

-- What concerns one person, by the cursor of the event that did it: `mention` (a message,
-- or an edit, that names them: `event_id` is the message), `member_added`,
-- `member_removed` (`event_id` is the membership event), `read` (their read cursor moved
-- to `event_id`). The `me` view is this table in cursor order; notifications are its
-- mentions.
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

-- `total_channels` counts public channels only.
DROP TRIGGER channels_count;
CREATE TRIGGER channels_count AFTER INSERT ON channels WHEN new.kind = 'channel' AND NOT new.private BEGIN
    UPDATE meta SET total_channels = total_channels + 1 WHERE id = 1;
END;
