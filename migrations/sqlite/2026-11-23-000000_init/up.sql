-- Times are integer milliseconds since the Unix epoch (UTC).
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch TEXT NOT NULL,
    total_messages BIGINT NOT NULL DEFAULT 0,
    total_channels BIGINT NOT NULL DEFAULT 0,
    total_users BIGINT NOT NULL DEFAULT 0
);
INSERT INTO meta (id, epoch) VALUES (1, lower(hex(randomblob(8))));

CREATE TABLE channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT,
    total_messages BIGINT NOT NULL DEFAULT 0,
    last_message_at BIGINT,
    last_message_id BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX channels_last_message_id ON channels (last_message_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT,
    total_messages BIGINT NOT NULL DEFAULT 0,
    first_seen_at BIGINT,
    last_seen_at BIGINT,
    last_message_at BIGINT,
    last_message_id BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX users_last_message_id ON users (last_message_id);
CREATE INDEX users_total_messages ON users (total_messages DESC, id);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id BIGINT NOT NULL REFERENCES channels (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    text TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    tags TEXT,
    event_id TEXT
);
CREATE UNIQUE INDEX messages_event_id ON messages (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX messages_channel ON messages (channel_id, id);
CREATE INDEX messages_user ON messages (user_id, id);
CREATE INDEX messages_sent_at ON messages (sent_at);

CREATE VIRTUAL TABLE messages_fts USING fts5 (text, content = 'messages', content_rowid = 'id');

-- Counts, last activity and the FTS mirror change in the inserting transaction,
-- so they can never disagree with the rows.
CREATE TRIGGER channels_count AFTER INSERT ON channels BEGIN
    UPDATE meta SET total_channels = total_channels + 1 WHERE id = 1;
END;
CREATE TRIGGER users_count AFTER INSERT ON users BEGIN
    UPDATE meta SET total_users = total_users + 1 WHERE id = 1;
END;
CREATE TRIGGER messages_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
    UPDATE meta SET total_messages = total_messages + 1 WHERE id = 1;
    UPDATE channels SET
        total_messages = total_messages + 1,
        last_message_at = max(coalesce(last_message_at, new.sent_at), new.sent_at),
        last_message_id = new.id
    WHERE id = new.channel_id;
    UPDATE users SET
        total_messages = total_messages + 1,
        first_seen_at = min(coalesce(first_seen_at, new.sent_at), new.sent_at),
        last_seen_at = max(coalesce(last_seen_at, new.sent_at), new.sent_at),
        last_message_at = new.sent_at,
        last_message_id = new.id
    WHERE id = new.user_id;
END;
