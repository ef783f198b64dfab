DROP TABLE stream_members;
ALTER TABLE messages DROP COLUMN deleted, DROP COLUMN edited_at, DROP COLUMN target_id,
    DROP COLUMN payload, DROP COLUMN kind;
DROP TRIGGER channels_count ON channels;
CREATE TRIGGER channels_count AFTER INSERT ON channels FOR EACH ROW EXECUTE FUNCTION count_channel();
ALTER TABLE channels DROP COLUMN archived_at, DROP COLUMN created_at, DROP COLUMN metadata,
    DROP COLUMN promoted_by, DROP COLUMN promoted_at, DROP COLUMN branched_from_event_id,
    DROP COLUMN parent_stream_id, DROP COLUMN status, DROP COLUMN visibility,
    DROP COLUMN description, DROP COLUMN title, DROP COLUMN kind;
