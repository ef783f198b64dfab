//! Reads only the browser pages need (the chart's history, a user's channels, search
//! highlights). Everything a page shares with the read API goes through the functions in
//! `store` itself.
use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::ids::{Cursor, MessageId, UserId};

/// Messages per second of `sent_at` from `since_ms` on, as `(unix second, count)` in
/// ascending order. Only the newest `max_rows` messages are looked at, so a busy store
/// costs the home page a bounded scan (the chart then starts later, never lies about
/// the seconds it shows).
pub fn rate_per_second(
    conn: &mut SqliteConnection,
    since_ms: i64,
    newest: Cursor,
    max_rows: i64,
) -> QueryResult<Vec<(i64, i64)>> {
    let _timer = crate::metrics::read_timer("rate_per_second");
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        second: i64,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows = diesel::sql_query(
        "SELECT sent_at / 1000 AS second, COUNT(*) AS n FROM messages \
         WHERE id > ? AND id <= ? AND sent_at >= ? GROUP BY second ORDER BY second",
    )
    .bind::<BigInt, _>(newest.0 - max_rows)
    .bind::<BigInt, _>(newest)
    .bind::<BigInt, _>(since_ms)
    .load::<Row>(conn)?;
    Ok(rows.into_iter().map(|r| (r.second, r.n)).collect())
}

/// The channels a user wrote in, with how many messages, most first; at most `limit`.
pub fn user_channels(conn: &mut SqliteConnection, user_id: UserId, limit: i64) -> QueryResult<Vec<(String, i64)>> {
    let _timer = crate::metrics::read_timer("user_channels");
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows = diesel::sql_query(
        "SELECT channels.name AS name, counts.n AS n FROM \
           (SELECT channel_id, COUNT(*) AS n FROM messages WHERE user_id = ? GROUP BY channel_id) AS counts \
         JOIN channels ON channels.id = counts.channel_id ORDER BY counts.n DESC, channels.name LIMIT ?",
    )
    .bind::<BigInt, _>(user_id)
    .bind::<BigInt, _>(limit)
    .load::<Row>(conn)?;
    Ok(rows.into_iter().map(|r| (r.name, r.n)).collect())
}

/// Start and end markers of a matched word in [`highlights`]: private-use characters,
/// which chat text practically never holds (and if it does, the text is still shown
/// as text; only the marking is off).
pub const MARK_START: char = '\u{E000}';
pub const MARK_END: char = '\u{E001}';

/// The text of each of `ids` with the words FTS5 matched for `fts_query` (from
/// [`super::parse_query`]) between [`MARK_START`] and [`MARK_END`].
pub fn highlights(
    conn: &mut SqliteConnection,
    fts_query: &str,
    ids: &[MessageId],
) -> QueryResult<HashMap<MessageId, String>> {
    let _timer = crate::metrics::read_timer("highlights");
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: MessageId,
        #[diesel(sql_type = Text)]
        marked: String,
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // The ids are integers from our own query, so listing them inline is safe.
    let list = ids.iter().map(MessageId::to_string).collect::<Vec<_>>().join(",");
    let rows = diesel::sql_query(format!(
        "SELECT rowid AS id, highlight(messages_fts, 0, char({}), char({})) AS marked \
         FROM messages_fts WHERE messages_fts MATCH ? AND rowid IN ({list})",
        MARK_START as u32, MARK_END as u32
    ))
    .bind::<Text, _>(fts_query)
    .load::<Row>(conn)?;
    Ok(rows.into_iter().map(|r| (r.id, r.marked)).collect())
}
