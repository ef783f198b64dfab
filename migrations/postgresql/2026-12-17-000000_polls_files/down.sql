DROP TABLE file_chunks;
DROP TABLE files;
DROP TABLE poll_votes;
DROP TABLE polls;
