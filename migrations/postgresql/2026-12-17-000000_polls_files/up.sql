-- The same as migrations/sqlite/2026-12-17-000000_polls_files, which explains it.
CREATE TABLE polls (
    event_id BIGINT PRIMARY KEY,
    stream_id BIGINT NOT NULL,
    question TEXT NOT NULL,
    options TEXT NOT NULL,
    counts TEXT NOT NULL,
    multiple BOOLEAN NOT NULL,
    closes_at BIGINT,
    closed_at BIGINT,
    voters BIGINT NOT NULL DEFAULT 0,
    changed_id BIGINT NOT NULL
);
CREATE INDEX polls_stream_changed ON polls (stream_id, changed_id);
-- A commit's changed tallies, by cursor range (every commit asks).
CREATE INDEX polls_changed ON polls (changed_id);
CREATE TABLE poll_votes (
    poll_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    options TEXT NOT NULL,
    voted_at BIGINT NOT NULL,
    PRIMARY KEY (poll_id, user_id)
);
CREATE TABLE files (
    id BIGSERIAL PRIMARY KEY,
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
    data BYTEA NOT NULL,
    PRIMARY KEY (file_id, seq)
);
