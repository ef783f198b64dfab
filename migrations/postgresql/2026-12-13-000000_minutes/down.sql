DROP TABLE all_minutes;
DROP TABLE user_minutes;
DROP TABLE channel_minutes;
