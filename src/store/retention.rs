//! Retention (`--retention`, issue 16): events older than the retention are deleted in the
//! background, a bounded batch per short write transaction, so ingest waits at most one
//! batch. What is kept: every count (channels', users', the totals: they become all-time
//! counts), the per-minute rollups (charts keep their history), streams, members and their
//! read state. What goes: the events themselves, their search entries, and the
//! notifications of the messages that go. The newest event is never pruned: it holds the
//! cursor, which must never move back.
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::ids::{ChannelId, MessageId};
use super::schema::{inbox, messages, meta, stream_members};
use super::{meta as meta_table, transaction, Begin, DbConnection, Store, StoreResult};

/// Events one prune transaction deletes at most (`--retention-batch`'s default).
pub const RETENTION_BATCH: u32 = 5000;

/// The newest event id pruned so far (0: none): a cursor before it cannot be caught up.
pub fn pruned_upto(conn: &mut DbConnection) -> QueryResult<MessageId> {
    meta::table.select(meta::pruned_upto).first(conn)
}

/// How often the pruner looks for events past the retention when the last look found
/// fewer than a batch.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Prunes for as long as the server runs: a batch at a time, at once again while batches
/// come back full, otherwise every [`PRUNE_EVERY`].
pub fn start(store: Store, keep: std::time::Duration, batch: i64) -> actix_web::rt::task::JoinHandle<()> {
    log::info!("retention keep_s={} batch={batch}", keep.as_secs());
    actix_web::rt::spawn(async move {
        loop {
            let before = crate::time::now_ms().saturating_sub(keep.as_millis() as i64);
            let s = store.clone();
            match actix_web::rt::task::spawn_blocking(move || s.prune(before, batch)).await {
                Ok(Ok(n)) => {
                    crate::metrics::METRICS.store_pruned.inc_by(n as u64);
                    if n as i64 == batch {
                        // A breath between full batches: ingest takes the write lock.
                        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                }
                Ok(Err(e)) => log::warn!("prune failed error={e}"),
                Err(e) => log::warn!("prune failed error={e}"),
            }
            actix_web::rt::time::sleep(PRUNE_EVERY).await;
        }
    })
}

impl Store {
    /// Deletes up to `limit` events sent before `before` (milliseconds since the epoch),
    /// oldest id first; answers how many went. Run it again while it answers `limit`.
    pub fn prune(&self, before: i64, limit: i64) -> StoreResult<usize> {
        let mut conn = self.conn()?;
        transaction(&mut conn, Begin::Write, |conn| prune(conn, before, limit)).map_err(Into::into)
    }
}

fn prune(conn: &mut DbConnection, before: i64, limit: i64) -> QueryResult<usize> {
    let newest = meta_table::last_id(conn)?;
    let rows: Vec<(MessageId, ChannelId)> = messages::table
        .filter(messages::sent_at.lt(before))
        .filter(messages::id.lt(newest))
        .order(messages::id.asc())
        .limit(limit)
        .select((messages::id, messages::channel_id))
        .load(conn)?;
    let Some(upto) = rows.iter().map(|r| r.0).max() else {
        return Ok(0);
    };
    let ids: Vec<MessageId> = rows.iter().map(|r| r.0).collect();
    if let DbConnection::Sqlite(c) = conn {
        // The FTS mirror holds the text of every public live message: it is told the text
        // it indexed (PostgreSQL's `tsvector` goes with its row).
        let json = serde_json::to_string(&ids).map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
        diesel::sql_query(
            "INSERT INTO messages_fts (messages_fts, rowid, text, scope) \
             SELECT 'delete', id, text, 'c' || channel_id || ' u' || user_id FROM messages \
             WHERE id IN (SELECT value FROM json_each(?)) AND kind = 'message' AND NOT deleted AND NOT private",
        )
        .bind::<Text, _>(json)
        .execute(c)?;
    }
    diesel::delete(inbox::table.filter(inbox::event_id.eq_any(&ids).or(inbox::cursor.eq_any(&ids)))).execute(conn)?;
    diesel::delete(messages::table.filter(messages::id.eq_any(&ids))).execute(conn)?;
    super::files::pruned(conn, &ids)?;
    super::polls::pruned(conn, &ids)?;
    // Badges count the messages that are kept: recounted where a member had some unread.
    let mut streams: Vec<ChannelId> = rows.iter().map(|r| r.1).collect();
    streams.sort_unstable();
    streams.dedup();
    let with_members: Vec<ChannelId> = stream_members::table
        .filter(stream_members::stream_id.eq_any(&streams))
        .select(stream_members::stream_id)
        .distinct()
        .load(conn)?;
    for stream in with_members {
        recount(conn, stream, upto)?;
    }
    diesel::update(meta::table.filter(meta::id.eq(1)))
        .set(meta::pruned_upto.eq(upto))
        .execute(conn)?;
    Ok(rows.len())
}

/// Counts again the badges of `stream`'s members who had not read up to `upto`.
fn recount(conn: &mut DbConnection, stream: ChannelId, upto: MessageId) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE stream_members SET \
         unread_count = (SELECT COUNT(*) FROM messages m WHERE m.channel_id = stream_members.stream_id \
             AND m.id > stream_members.last_read_id AND m.kind = 'message' AND NOT m.deleted \
             AND m.user_id <> stream_members.user_id), \
         mention_count = (SELECT COUNT(*) FROM inbox i WHERE i.user_id = stream_members.user_id \
             AND i.stream_id = stream_members.stream_id AND i.kind = 'mention' \
             AND i.event_id > stream_members.last_read_id) \
         WHERE stream_id = $1 AND last_read_id < $2",
    )
    .bind::<BigInt, _>(stream)
    .bind::<BigInt, _>(upto)
    .execute(conn)
    .map(drop)
}
