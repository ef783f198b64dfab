DROP TRIGGER channels_count ON channels;
CREATE TRIGGER channels_count AFTER INSERT ON channels
    FOR EACH ROW WHEN (NEW.kind = 'channel') EXECUTE FUNCTION count_channel();
DROP TABLE inbox;
DROP INDEX stream_members_badge;
ALTER TABLE stream_members DROP COLUMN badge_id, DROP COLUMN mention_count,
    DROP COLUMN unread_count, DROP COLUMN last_read_id;
ALTER TABLE messages DROP COLUMN private;
ALTER TABLE channels DROP COLUMN access_id, DROP COLUMN private;
