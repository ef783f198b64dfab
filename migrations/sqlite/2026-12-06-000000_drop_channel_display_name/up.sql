-- Nothing ever wrote a channel's display name: the column is dropped.
ALTER TABLE channels DROP COLUMN display_name;
