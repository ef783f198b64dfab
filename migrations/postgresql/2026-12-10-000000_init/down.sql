DROP TABLE messages;
DROP TABLE users;
DROP TABLE channels;
DROP FUNCTION count_user;
DROP FUNCTION count_channel;
DROP TABLE meta;
