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
