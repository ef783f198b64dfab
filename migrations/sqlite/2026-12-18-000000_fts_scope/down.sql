DROP TABLE messages_fts;
DROP VIEW messages_fts_source;
CREATE VIRTUAL TABLE messages_fts USING fts5 (text, content = 'messages', content_rowid = 'id');
INSERT INTO messages_fts (rowid, text)
    SELECT id, text FROM messages WHERE kind = 'message' AND NOT deleted AND NOT private;
