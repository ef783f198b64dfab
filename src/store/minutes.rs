//! Per-minute message counts per channel and per user (issue 16's rollups): added to by the
//! inserting transaction, taken from by a delete's, so they always equal what a
//! `COUNT(*) ... GROUP BY minute` over live messages would say. Charts and top lists over
//! any window read these rows, never messages.
use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use super::ids::{ChannelId, UserId};
use super::schema::{all_minutes, channel_minutes, user_minutes};
use super::DbConnection;

/// The minute of a time in milliseconds since the Unix epoch (floor, so times before 1970
/// fall in the minute they are in).
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(60_000)
}

/// Messages added (or, negative, taken away) per `(entity, minute)`.
pub(super) type Deltas = HashMap<(i64, i64), i64>;

/// Public messages added (or, negative, taken away) per `(channel, user, minute)`.
pub(super) type PairDeltas = HashMap<(i64, i64, i64), i64>;

/// Adds `channels` to the streams' minutes (every message counts for its stream) and
/// `pairs` (public messages) to the pairs', the users' (their sums per user) and every
/// message's minutes (`all_minutes`, their sums per minute), one statement each.
pub(super) fn apply(conn: &mut DbConnection, channels: &Deltas, pairs: &PairDeltas) -> QueryResult<()> {
    let (mut users, mut all) = (Deltas::new(), Deltas::new());
    for ((_, user, minute), n) in pairs {
        *users.entry((*user, *minute)).or_default() += n;
        *all.entry((0, *minute)).or_default() += n;
    }
    let rows = |d: &Deltas, keyed: bool| -> Vec<Vec<i64>> {
        d.iter()
            .map(|((id, m), n)| if keyed { vec![*id, *m, *n] } else { vec![*m, *n] })
            .collect()
    };
    let pair_rows: Vec<Vec<i64>> = pairs.iter().map(|((c, u, m), n)| vec![*c, *m, *u, *n]).collect();
    upsert(
        conn,
        "channel_minutes",
        &["channel_id", "minute"],
        &rows(channels, true),
    )?;
    upsert(conn, "pair_minutes", &["channel_id", "minute", "user_id"], &pair_rows)?;
    upsert(conn, "user_minutes", &["user_id", "minute"], &rows(&users, true))?;
    upsert(conn, "all_minutes", &["minute"], &rows(&all, false))
}

/// Adds to `table`'s rows keyed by `keys`: each row is the keys' values then the messages
/// to add. An upsert from a JSON array on SQLite, from arrays on PostgreSQL.
fn upsert(conn: &mut DbConnection, table: &str, keys: &[&str], rows: &[Vec<i64>]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let keys_list = keys.join(", ");
    let columns = format!("{keys_list}, messages");
    let update = format!("ON CONFLICT ({keys_list}) DO UPDATE SET messages = {table}.messages + excluded.messages");
    let width = keys.len() + 1;
    match conn {
        DbConnection::Sqlite(c) => {
            let json = serde_json::to_string(rows).map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
            let values: Vec<String> = (0..width).map(|i| format!("value->>{i}")).collect();
            // `WHERE true`: SQLite's parser needs it between a SELECT and ON CONFLICT.
            diesel::sql_query(format!(
                "INSERT INTO {table} ({columns}) SELECT {} FROM json_each(?) WHERE true {update}",
                values.join(", ")
            ))
            .bind::<Text, _>(json)
            .execute(c)?;
        }
        DbConnection::Pg(c) => {
            // One array per column; `unnest` zips them back into rows.
            let arrays: Vec<String> = (1..=width).map(|i| format!("${i}::bigint[]")).collect();
            let sql = format!(
                "INSERT INTO {table} ({columns}) SELECT * FROM unnest({}) {update}",
                arrays.join(", ")
            );
            let column = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<i64>>();
            let query = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
            let query = (0..width).fold(query, |q, i| q.bind::<Array<BigInt>, _>(column(i)));
            query.execute(c)?;
        }
    }
    Ok(())
}

/// Which messages an activity read counts: one channel's, one user's, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of {
    All,
    Channel(ChannelId),
    User(UserId),
}

/// Messages per bucket of `bucket_minutes` minutes in `from..to` (minutes), as
/// `(first minute of the bucket, messages)` ascending; empty buckets left out.
pub fn activity(
    conn: &mut DbConnection,
    of: Of,
    from: i64,
    to: i64,
    bucket_minutes: i64,
) -> QueryResult<Vec<(i64, i64)>> {
    let _timer = crate::metrics::read_timer("activity");
    let rows: Vec<(i64, i64)> = match of {
        Of::User(u) => user_minutes::table
            .filter(user_minutes::user_id.eq(u.0))
            .filter(user_minutes::minute.ge(from).and(user_minutes::minute.lt(to)))
            .select((user_minutes::minute, user_minutes::messages))
            .load(conn)?,
        Of::Channel(c) => channel_minutes::table
            .filter(channel_minutes::channel_id.eq(c.0))
            .filter(channel_minutes::minute.ge(from).and(channel_minutes::minute.lt(to)))
            .select((channel_minutes::minute, channel_minutes::messages))
            .load(conn)?,
        Of::All => all_minutes::table
            .filter(all_minutes::minute.ge(from).and(all_minutes::minute.lt(to)))
            .select((all_minutes::minute, all_minutes::messages))
            .load(conn)?,
    };
    // Summed here: at most one row a minute of the window (43,200 for 30 days).
    let mut buckets: std::collections::BTreeMap<i64, i64> = Default::default();
    for (minute, n) in rows {
        *buckets
            .entry(from + (minute - from).div_euclid(bucket_minutes) * bucket_minutes)
            .or_default() += n;
    }
    Ok(buckets.into_iter().filter(|(_, n)| *n != 0).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn minutes_floor() {
        use super::minute_of;
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(59_999), 0);
        assert_eq!(minute_of(60_000), 1);
        assert_eq!(minute_of(-1), -1);
        assert_eq!(minute_of(-60_000), -1);
        assert_eq!(minute_of(-60_001), -2);
    }
}
