//! What the live top lists (issue 16) read: per-window message counts of channels and
//! users, summed from the per-minute rollups, never from messages. A top room reads a
//! window once when it starts and, each minute, the minutes that left it; both reads come
//! with the cursor they saw (a consistent snapshot), so the room can tell which commits
//! they already hold.
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};

use super::ids::{ChannelId, Cursor, MessageId, UserId};
use super::messages::{EventType, Message};
use super::DbConnection;

/// Whose counts: the top channels and users of everything, a channel's users or a user's
/// channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Channel(ChannelId),
    User(UserId),
}

/// One entity's messages over some minutes.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Counted {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub messages: i64,
}

/// The counts of some minutes, and the cursor of the snapshot they were read in.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub channels: Vec<Counted>,
    pub users: Vec<Counted>,
    pub cursor: Cursor,
}

/// Whether a stream by its key is a channel anyone may see: a private stream's key is
/// `~<id>`, as is every thread's and incident's (their counts are their own).
pub fn is_public_channel(key: &str, private: bool) -> bool {
    !private && !key.starts_with('~')
}

/// The scope's counts in minutes `from..to` (`to` open: every minute from `from` on, a
/// message dated ahead of the clock too), read in the caller's read transaction.
pub fn counts(conn: &mut DbConnection, scope: Scope, from: i64, to: Option<i64>) -> QueryResult<Counts> {
    let to = to.unwrap_or(i64::MAX);
    // Summed first, named after: a window of many rows groups without a join per row.
    let sum = |rollup: &str, entity: &str, filter: &str, names: &str, public_channels: bool| {
        let (table, name) = match names {
            "channels" => ("channels", "name"),
            _ => ("users", "username"),
        };
        let only_channels = if public_channels {
            " AND n.private = false AND n.name NOT LIKE '~%'"
        } else {
            ""
        };
        format!(
            "SELECT s.id AS id, n.{name} AS name, s.messages AS messages FROM \
             (SELECT {entity} AS id, CAST(SUM(messages) AS BIGINT) AS messages FROM {rollup} \
              WHERE minute >= $1 AND minute < $2{filter} GROUP BY {entity}) s \
             JOIN {table} n ON n.id = s.id WHERE s.messages <> 0{only_channels}"
        )
    };
    let read = |conn: &mut DbConnection, sql: String, id: Option<i64>| -> QueryResult<Vec<Counted>> {
        // SQLite reads `$1` as a named parameter, numbered in order of first use: the
        // same text binds on both backends.
        let q = diesel::sql_query(sql).bind::<BigInt, _>(from).bind::<BigInt, _>(to);
        match id {
            Some(id) => q.bind::<BigInt, _>(id).load(conn),
            None => q.load(conn),
        }
    };
    let mut counts = Counts::default();
    match scope {
        Scope::All => {
            counts.channels = read(conn, sum("channel_minutes", "channel_id", "", "channels", true), None)?;
            counts.users = read(conn, sum("user_minutes", "user_id", "", "users", false), None)?;
        }
        Scope::Channel(c) => {
            let sql = sum("pair_minutes", "user_id", " AND channel_id = $3", "users", false);
            counts.users = read(conn, sql, Some(c.0))?;
        }
        Scope::User(u) => {
            let sql = sum("pair_minutes", "channel_id", " AND user_id = $3", "channels", true);
            counts.channels = read(conn, sql, Some(u.0))?;
        }
    }
    counts.cursor = super::meta::last_id(conn)?;
    Ok(counts)
}

/// A message a commit deleted: what its counts were (PROTOCOL.md's top lists take it out
/// of the windows its minute is in). Public messages only: a private one counted nowhere
/// but its stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// The delete's own cursor.
    pub cursor: MessageId,
    pub channel_id: ChannelId,
    pub channel: String,
    pub user_id: UserId,
    pub user: String,
    pub sent_at: i64,
}

/// The messages the deletes among `rows` (a commit's, in id order) took out.
pub fn removed(conn: &mut DbConnection, rows: &[Message]) -> QueryResult<Vec<Removed>> {
    let deletes: Vec<(MessageId, MessageId)> = rows
        .iter()
        .filter(|m| m.event_type() == EventType::EventDeleted && !m.private)
        .filter_map(|m| Some((m.id, m.target_id?)))
        .collect();
    if deletes.is_empty() {
        return Ok(Vec::new());
    }
    let targets = super::messages::by_ids(conn, deletes.iter().map(|(_, t)| *t).collect())?;
    Ok(deletes
        .iter()
        .filter_map(|(cursor, target)| {
            let m = targets.iter().find(|m| m.id == *target)?;
            (m.event_type() == EventType::Message && !m.private).then(|| Removed {
                cursor: *cursor,
                channel_id: m.channel_id,
                channel: m.channel.clone(),
                user_id: m.user_id,
                user: m.user.clone(),
                sent_at: m.sent_at,
            })
        })
        .collect())
}
