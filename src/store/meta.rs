//! The one-row `meta` table: the epoch and the totals.
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::Cursor;
use super::schema::{messages, meta};

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub total_messages: i64,
    pub total_channels: i64,
    pub total_users: i64,
    /// The newest stored message.
    pub cursor: Cursor,
}

pub fn totals(conn: &mut SqliteConnection) -> QueryResult<Totals> {
    let _timer = crate::metrics::read_timer("totals");
    let (total_messages, total_channels, total_users) = meta::table
        .select((meta::total_messages, meta::total_channels, meta::total_users))
        .first::<(i64, i64, i64)>(conn)?;
    let cursor = messages::table
        .select(diesel::dsl::max(messages::id))
        .first::<Option<Cursor>>(conn)?
        .unwrap_or_default();
    Ok(Totals {
        total_messages,
        total_channels,
        total_users,
        cursor,
    })
}

/// Adds `n` stored messages to the total.
pub(super) fn add_messages(conn: &mut SqliteConnection, n: i64) -> QueryResult<()> {
    diesel::update(meta::table.filter(meta::id.eq(1)))
        .set(meta::total_messages.eq(meta::total_messages + n))
        .execute(conn)?;
    Ok(())
}

pub fn epoch(conn: &mut SqliteConnection) -> QueryResult<String> {
    meta::table.select(meta::epoch).first(conn)
}

/// Whether the database answers.
pub fn ping(conn: &mut SqliteConnection) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}
