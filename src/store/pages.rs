//! Reads only the browser pages need (the chart's history, a user's channels). Everything
//! a page shares with the read API goes through the functions in `store` itself.
use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::ids::{Cursor, MessageId, UserId};
use super::schema::{channels, messages};
use super::DbConnection;

/// The LIKE pattern of names starting with `prefix`, lowercased (compared with the
/// lowercased name: any case, on both backends); `_`, the one name character LIKE treats
/// specially, is escaped with `\`.
pub(super) fn starts_with_pattern(prefix: &str) -> String {
    format!("{}%", prefix.to_lowercase().replace('_', "\\_"))
}

/// Messages (not deleted) per second of `sent_at` from `since_ms` on, as `(unix second,
/// count)` in ascending order. Only the newest `max_rows` messages are looked at, so a busy store
/// costs the home page a bounded scan (the chart then starts later, never lies about
/// the seconds it shows).
pub fn rate_per_second(
    conn: &mut DbConnection,
    since_ms: i64,
    newest: Cursor,
    max_rows: i64,
) -> QueryResult<Vec<(i64, i64)>> {
    let _timer = crate::metrics::read_timer("rate_per_second");
    // Integer division on both backends: the second a millisecond time falls in.
    let second = || sql::<BigInt>("messages.sent_at / 1000");
    messages::table
        .filter(messages::id.gt(MessageId(newest.0 - max_rows)))
        .filter(messages::id.le(newest))
        .filter(messages::sent_at.ge(since_ms))
        .filter(messages::kind.eq("message"))
        .filter(diesel::dsl::not(messages::deleted))
        .filter(messages::private.eq(false))
        .group_by(second())
        .select((second(), count_star()))
        .order(second())
        .load(conn)
}

/// The streams a user wrote messages in (not deleted), with how many, most first; at most
/// `limit`.
pub fn user_channels(conn: &mut DbConnection, user_id: UserId, limit: i64) -> QueryResult<Vec<(String, i64)>> {
    let _timer = crate::metrics::read_timer("user_channels");
    messages::table
        .inner_join(channels::table)
        .filter(messages::user_id.eq(user_id))
        .filter(messages::kind.eq("message"))
        .filter(diesel::dsl::not(messages::deleted))
        .filter(messages::private.eq(false))
        .group_by(channels::id)
        .select((channels::name, count_star()))
        .order((count_star().desc(), channels::name.asc()))
        .limit(limit)
        .load(conn)
}
