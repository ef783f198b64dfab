-- Retention (issue 16): the newest event id pruned so far. A live view resuming from a
-- cursor before it cannot be caught up (what it missed may be gone): it falls back.
ALTER TABLE meta ADD COLUMN pruned_upto BIGINT NOT NULL DEFAULT 0;
