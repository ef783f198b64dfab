ALTER TABLE channels ADD COLUMN display_name TEXT;
