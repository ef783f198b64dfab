DROP TRIGGER channels_count;
CREATE TRIGGER channels_count AFTER INSERT ON channels WHEN new.kind = 'channel' BEGIN
    UPDATE meta SET total_channels = total_channels + 1 WHERE id = 1;
END;
DROP TABLE inbox;
DROP INDEX stream_members_badge;
ALTER TABLE stream_members DROP COLUMN badge_id;
ALTER TABLE stream_members DROP COLUMN mention_count;
ALTER TABLE stream_members DROP COLUMN unread_count;
ALTER TABLE stream_members DROP COLUMN last_read_id;
ALTER TABLE messages DROP COLUMN private;
ALTER TABLE channels DROP COLUMN access_id;
ALTER TABLE channels DROP COLUMN private;
