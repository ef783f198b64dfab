-- Search narrowed to a channel or a user (issue 16): the FTS mirror also indexes each
-- message's scope, `c<channel id> u<user id>`, in a column of its own, so FTS5 intersects
-- a word's matches with one channel's or user's itself (`text : (...) AND scope : "c7"`)
-- instead of the rows of every match being read and narrowed (2 s over 10 million messages
-- for a channel's share of a common word). The external content is a view that computes
-- the same scope, so a 'delete' and a rebuild see what was indexed.
-- Prefixes of 2, 3 and 4 characters are indexed as terms of their own (`prefix`), so
-- `coff*` is read newest first like a word instead of every term that starts with it being
-- merged first (115 ms p50 over 10 million messages); a longer prefix still merges, and
-- matches fewer terms.
DROP TABLE messages_fts;
CREATE VIEW messages_fts_source AS
    SELECT id, text, 'c' || channel_id || ' u' || user_id AS scope FROM messages;
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, scope, prefix = '2 3 4', content = 'messages_fts_source', content_rowid = 'id'
);
INSERT INTO messages_fts (rowid, text, scope)
    SELECT id, text, 'c' || channel_id || ' u' || user_id FROM messages
    WHERE kind = 'message' AND NOT deleted AND NOT private;
