-- Counts, last activity and the FTS mirror are no longer kept by a per-row trigger: the
-- ingest transaction (`Store::insert_batches`) updates them once per transaction, for every
-- channel and user it touched, in the same transaction as the rows. A per-row trigger made
-- every INSERT a multi-row statement, and SQLite journaled every page it touched (meta, the
-- channel and user rows, their indexes, FTS) into a statement journal once per message.
DROP TRIGGER messages_insert;
