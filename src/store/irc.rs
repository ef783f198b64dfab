//! The `irc_channels` table: the IRC channels followed, and which node reads each. A node
//! holds a channel's lease while it reads it and renews it well before it runs out; a
//! lease that ran out (its node died) is taken by the next node that asks. Each change is
//! one statement, outside the message write path and its lock.
use diesel::prelude::*;
use serde::Serialize;

use super::schema::irc_channels;
use super::DbConnection;
use crate::time::serialize_ms;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = irc_channels)]
pub struct FollowedChannel {
    /// The channel, without `#`.
    pub name: String,
    /// Followed but not read until resumed.
    pub paused: bool,
    #[serde(serialize_with = "serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub added_at: i64,
    /// The node reading it while its lease lasts.
    #[serde(skip)]
    pub lease_node: Option<String>,
    #[serde(skip)]
    pub lease_until: Option<i64>,
}

pub fn list_followed(conn: &mut DbConnection) -> QueryResult<Vec<FollowedChannel>> {
    irc_channels::table
        .select(FollowedChannel::as_select())
        .order(irc_channels::name.asc())
        .load(conn)
}

/// Follows `name` (paused or not); for a channel already followed, sets `paused`.
/// `true` when it was not followed before.
pub fn follow(conn: &mut DbConnection, name: &str, paused: bool, now: i64) -> QueryResult<bool> {
    let updated = diesel::update(irc_channels::table.find(name))
        .set(irc_channels::paused.eq(paused))
        .execute(conn)?;
    if updated > 0 {
        return Ok(false);
    }
    let inserted = diesel::insert_into(irc_channels::table)
        .values((
            irc_channels::name.eq(name),
            irc_channels::paused.eq(paused),
            irc_channels::added_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        // Followed by someone else between the two statements: set what was asked.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            follow(conn, name, paused, now)
        }
        Err(e) => Err(e),
    }
}

/// Follows each of `names` that is not followed yet (`--irc-channels` at start).
pub fn follow_missing(conn: &mut DbConnection, names: &[String], now: i64) -> QueryResult<()> {
    for name in names {
        let known = irc_channels::table
            .find(name)
            .select(irc_channels::name)
            .first::<String>(conn)
            .optional()?;
        if known.is_none() {
            follow(conn, name, false, now)?;
        }
    }
    Ok(())
}

/// `false` when `name` was not followed.
pub fn unfollow(conn: &mut DbConnection, name: &str) -> QueryResult<bool> {
    Ok(diesel::delete(irc_channels::table.find(name)).execute(conn)? > 0)
}

/// What [`claim`] got.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Claimed {
    /// The channels the node now reads.
    pub channels: Vec<String>,
    /// How many of them it took from another node whose lease ran out.
    pub taken_over: usize,
}

/// Renews `node`'s leases and takes every unpaused channel whose lease is free or ran out,
/// until `now + lease_ms`; gives up the leases of paused channels.
pub fn claim(conn: &mut DbConnection, node: &str, now: i64, lease_ms: i64) -> QueryResult<Claimed> {
    use super::schema::irc_channels::dsl::*;
    // Nothing followed: no write (a write would queue behind the message commits).
    if irc_channels.select(name).first::<String>(conn).optional()?.is_none() {
        return Ok(Claimed::default());
    }
    // Counted before they are taken; a race with another taker only miscounts.
    let taken_over = irc_channels
        .filter(paused.eq(false))
        .filter(lease_node.ne(node))
        .filter(lease_until.lt(now))
        .count()
        .get_result::<i64>(conn)? as usize;
    diesel::update(irc_channels.filter(paused.eq(true)).filter(lease_node.eq(node)))
        .set((lease_node.eq(None::<String>), lease_until.eq(None::<i64>)))
        .execute(conn)?;
    diesel::update(
        irc_channels
            .filter(paused.eq(false))
            .filter(lease_node.is_null().or(lease_node.eq(node)).or(lease_until.lt(now))),
    )
    .set((lease_node.eq(node), lease_until.eq(now + lease_ms)))
    .execute(conn)?;
    let channels = irc_channels
        .filter(lease_node.eq(node))
        .filter(paused.eq(false))
        .select(name)
        .order(name.asc())
        .load(conn)?;
    Ok(Claimed { channels, taken_over })
}

/// Gives up every lease of `node` (it stops reading), so another node takes over at once.
pub fn release(conn: &mut DbConnection, node: &str) -> QueryResult<usize> {
    use super::schema::irc_channels::dsl::*;
    diesel::update(irc_channels.filter(lease_node.eq(node)))
        .set((lease_node.eq(None::<String>), lease_until.eq(None::<i64>)))
        .execute(conn)
}
