DROP TRIGGER messages_insert;
DROP TRIGGER users_count;
DROP TRIGGER channels_count;
DROP TABLE messages_fts;
DROP TABLE messages;
DROP TABLE users;
DROP TABLE channels;
DROP TABLE meta;
