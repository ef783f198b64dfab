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

/// Adds `channels` to the channels' minutes, `users` to the users', and their sum per
/// minute to every message's minutes (`all_minutes`), one statement each.
pub(super) fn apply(conn: &mut DbConnection, channels: &Deltas, users: &Deltas) -> QueryResult<()> {
    // Every public message counts for exactly one user (a private one for its stream only).
    let mut all = Deltas::new();
    for ((_, minute), n) in users {
        *all.entry((0, *minute)).or_default() += n;
    }
    upsert(conn, "channel_minutes", Some("channel_id"), channels)?;
    upsert(conn, "user_minutes", Some("user_id"), users)?;
    upsert(conn, "all_minutes", None, &all)
}

/// Adds `deltas` to `table`'s rows keyed by (`key`, minute), or by minute alone without a
/// key: an upsert from a JSON array on SQLite, from arrays on PostgreSQL.
fn upsert(conn: &mut DbConnection, table: &str, key: Option<&str>, deltas: &Deltas) -> QueryResult<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let (columns, conflict) = match key {
        Some(k) => (format!("{k}, minute, messages"), format!("{k}, minute")),
        None => ("minute, messages".to_owned(), "minute".to_owned()),
    };
    let update = format!("ON CONFLICT ({conflict}) DO UPDATE SET messages = {table}.messages + excluded.messages");
    match conn {
        DbConnection::Sqlite(c) => {
            let rows: Vec<[i64; 3]> = deltas.iter().map(|((id, m), n)| [*id, *m, *n]).collect();
            let json = serde_json::to_string(&rows).map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
            let values = if key.is_some() {
                "value->>0, value->>1, value->>2"
            } else {
                "value->>1, value->>2"
            };
            // `WHERE true`: SQLite's parser needs it between a SELECT and ON CONFLICT.
            diesel::sql_query(format!(
                "INSERT INTO {table} ({columns}) SELECT {values} FROM json_each(?) WHERE true {update}"
            ))
            .bind::<Text, _>(json)
            .execute(c)?;
        }
        DbConnection::Pg(c) => {
            let (ids, (minutes, counts)): (Vec<i64>, (Vec<i64>, Vec<i64>)) =
                deltas.iter().map(|((id, m), n)| (*id, (*m, *n))).unzip();
            let values = if key.is_some() { "id, m, n" } else { "m, n" };
            diesel::sql_query(format!(
                "INSERT INTO {table} ({columns}) SELECT {values} \
                 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS d (id, m, n) {update}"
            ))
            .bind::<Array<BigInt>, _>(ids)
            .bind::<Array<BigInt>, _>(minutes)
            .bind::<Array<BigInt>, _>(counts)
            .execute(c)?;
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
