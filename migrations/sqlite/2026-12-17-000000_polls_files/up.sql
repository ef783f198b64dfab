-- Polls and files (issue 17). A poll is a `poll` event; its question, options and tally
-- live here, kept exact by the vote and close operations in the transaction that logs
-- them. `changed_id` is the cursor of the last change (the creation, a vote, the close),
-- so a stream view catches tallies up by cursor as it does reply counts.
CREATE TABLE polls (
    event_id BIGINT PRIMARY KEY NOT NULL,
    stream_id BIGINT NOT NULL,
    question TEXT NOT NULL,
    -- JSON arrays: the options' texts, and the votes for each.
    options TEXT NOT NULL,
    counts TEXT NOT NULL,
    multiple BOOLEAN NOT NULL,
    closes_at BIGINT,
    closed_at BIGINT,
    voters BIGINT NOT NULL DEFAULT 0,
    changed_id BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX polls_stream_changed ON polls (stream_id, changed_id);
-- A commit's changed tallies, by cursor range (every commit asks).
CREATE INDEX polls_changed ON polls (changed_id);
-- One vote per person and poll: the indexes of the options chosen, as a JSON array.
CREATE TABLE poll_votes (
    poll_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    options TEXT NOT NULL,
    voted_at BIGINT NOT NULL,
    PRIMARY KEY (poll_id, user_id)
) WITHOUT ROWID;
-- Files: the bytes in the database, in chunks, so every node serves every file and a
-- download reads one chunk at a time. An upload writes its chunks first (`event_id` NULL
-- until its `file` event is committed).
CREATE TABLE files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT UNIQUE,
    stream_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE file_chunks (
    file_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (file_id, seq)
) WITHOUT ROWID;
