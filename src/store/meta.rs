//! The one-row `meta` table: the epoch and the totals.
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::{Cursor, MessageId};
use super::schema::{messages, meta};
use super::DbConnection;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub total_messages: i64,
    pub total_channels: i64,
    pub total_users: i64,
    /// The newest stored message.
    pub cursor: Cursor,
}

pub fn totals(conn: &mut DbConnection) -> QueryResult<Totals> {
    let _timer = crate::metrics::read_timer("totals");
    let (total_messages, total_channels, total_users) = meta::table
        .select((meta::total_messages, meta::total_channels, meta::total_users))
        .first::<(i64, i64, i64)>(conn)?;
    let cursor = last_id(conn)?;
    Ok(Totals {
        total_messages,
        total_channels,
        total_users,
        cursor,
    })
}

/// The newest stored message, 0 before any.
pub(super) fn last_id(conn: &mut DbConnection) -> QueryResult<MessageId> {
    Ok(messages::table
        .select(diesel::dsl::max(messages::id))
        .first::<Option<MessageId>>(conn)?
        .unwrap_or_default())
}

/// Adds `n` stored messages to the total.
pub(super) fn add_messages(conn: &mut DbConnection, n: i64) -> QueryResult<()> {
    diesel::update(meta::table.filter(meta::id.eq(1)))
        .set(meta::total_messages.eq(meta::total_messages + n))
        .execute(conn)?;
    Ok(())
}

pub fn epoch(conn: &mut DbConnection) -> QueryResult<String> {
    meta::table.select(meta::epoch).first(conn)
}

/// Whether the database answers.
pub fn ping(conn: &mut DbConnection) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}
