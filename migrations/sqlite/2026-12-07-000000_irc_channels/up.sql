-- The IRC channels chatpulse follows (issue 15), managed at run time. A node reads a
-- channel while it holds its lease: `lease_node` until `lease_until` (ms since the epoch).
CREATE TABLE irc_channels (
    name TEXT PRIMARY KEY NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT 0,
    added_at BIGINT NOT NULL,
    lease_node TEXT,
    lease_until BIGINT
);
