//! The `channels` table: one row per channel, with its counts kept by the write path.
use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::ids::{ChannelId, Cursor, MessageId};
use super::schema::channels;
use super::write::find_or_create;
use super::{postgres, sqlite, DbConnection};
use crate::time::serialize_opt_ms;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = channels)]
pub struct Channel {
    pub id: ChannelId,
    pub name: String,
    pub total_messages: i64,
    #[serde(serialize_with = "serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null, required = true)]
    pub last_message_at: Option<i64>,
    /// Its newest change of count (a message, or a deletion): where a count view resumes from.
    #[serde(skip)]
    pub last_message_id: Cursor,
    /// The stream kind (PROTOCOL.md section 8): v1 lists and views show `channel` only.
    #[serde(skip)]
    pub kind: String,
    /// A thread's parent stream and the event it branched from.
    #[serde(skip)]
    pub parent_stream_id: Option<ChannelId>,
    #[serde(skip)]
    pub branched_from_event_id: Option<MessageId>,
    /// An incident's or thread's name.
    #[serde(skip)]
    pub title: Option<String>,
    /// `active`, `resolved` or `archived`.
    #[serde(skip)]
    pub status: String,
    /// A private stream, a DM, or a thread of one: shown to those who may see it only
    /// (PROTOCOL.md section 8), never in v1 lists, views, counts or search.
    #[serde(skip)]
    pub private: bool,
}

/// The kind of a v1 channel.
pub const CHANNEL: &str = "channel";

impl Channel {
    /// Whether v1 lists and views show it: a public channel (not a thread, incident, DM
    /// or private channel).
    pub fn is_channel(&self) -> bool {
        self.kind == CHANNEL && !self.private
    }

    /// Its name as people see it: a public channel's slug, any other stream's title.
    pub fn display_name(&self) -> Option<&str> {
        if self.is_channel() {
            Some(&self.name)
        } else {
            self.title.as_deref()
        }
    }
}

/// Channels whose name starts with `prefix` (any case), or all.
fn named<'a>(prefix: Option<&str>) -> channels::BoxedQuery<'a, crate::store::DbBackend> {
    let mut q = channels::table
        .filter(channels::kind.eq(CHANNEL))
        .filter(channels::private.eq(false))
        .into_boxed();
    if let Some(p) = prefix {
        q = q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(channels.name) LIKE ")
                .bind::<diesel::sql_types::Text, _>(super::pages::starts_with_pattern(p))
                .sql(" ESCAPE '\\'"),
        );
    }
    q
}

/// A page of channels (whose name starts with `prefix`, when given).
pub fn list_channels(
    conn: &mut DbConnection,
    limit: i64,
    offset: i64,
    by_name: bool,
    prefix: Option<&str>,
) -> QueryResult<Vec<Channel>> {
    let _timer = crate::metrics::read_timer("list_channels");
    let q = named(prefix).select(Channel::as_select()).limit(limit).offset(offset);
    let q = if by_name {
        q.order(channels::name.asc())
    } else {
        q.order((channels::total_messages.desc(), channels::name.asc()))
    };
    q.load(conn)
}

/// How many channels' names start with `prefix`.
pub fn count_channels(conn: &mut DbConnection, prefix: &str) -> QueryResult<i64> {
    let _timer = crate::metrics::read_timer("list_channels");
    named(Some(prefix)).count().get_result(conn)
}

/// A name that breaks the rule was never stored: it is not looked up (PostgreSQL refuses a
/// string holding U+0000, which would fail the read).
pub fn channel_by_name(conn: &mut DbConnection, name: &str) -> QueryResult<Option<Channel>> {
    if !crate::domain::valid_name(name) {
        return Ok(None);
    }
    let _timer = crate::metrics::read_timer("channel_by_name");
    channels::table
        .filter(channels::name.eq(name))
        .filter(channels::kind.eq(CHANNEL))
        .filter(channels::private.eq(false))
        .select(Channel::as_select())
        .first(conn)
        .optional()
}

/// Channels changed after `after`, oldest change first; at most `limit`.
pub fn channels_changed_after(conn: &mut DbConnection, after: Cursor, limit: i64) -> QueryResult<Vec<Channel>> {
    let _timer = crate::metrics::read_timer("channels_changed_after");
    channels::table
        .filter(channels::last_message_id.gt(after))
        .filter(channels::kind.eq(CHANNEL))
        .filter(channels::private.eq(false))
        .order(channels::last_message_id.asc())
        .limit(limit)
        .select(Channel::as_select())
        .load(conn)
}

/// Public streams of every kind changed after `after` (a count, or what they are), oldest
/// change first; at most `limit` (the anonymous `workspace` view).
pub fn streams_changed_after(conn: &mut DbConnection, after: Cursor, limit: i64) -> QueryResult<Vec<Channel>> {
    let _timer = crate::metrics::read_timer("channels_changed_after");
    channels::table
        .filter(channels::last_message_id.gt(after))
        .filter(channels::private.eq(false))
        .order(channels::last_message_id.asc())
        .limit(limit)
        .select(Channel::as_select())
        .load(conn)
}

/// Streams (of every kind) whose newest change of count is in `first..=last` (a
/// transaction's own range).
pub(super) fn changed_between(conn: &mut DbConnection, first: Cursor, last: Cursor) -> QueryResult<Vec<Channel>> {
    channels::table
        .filter(channels::last_message_id.between(first, last))
        .select(Channel::as_select())
        .load(conn)
}

/// The id of the channel named `name`, created on first use.
pub(super) fn find_or_create_channel(
    conn: &mut DbConnection,
    cache: &mut HashMap<String, ChannelId>,
    name: &str,
) -> QueryResult<ChannelId> {
    find_or_create(
        conn,
        cache,
        name,
        |c| {
            channels::table
                .filter(channels::name.eq(name))
                .select(channels::id)
                .first(c)
                .optional()
        },
        |c| match c {
            DbConnection::Sqlite(c) => sqlite::create_channel(c, name),
            DbConnection::Pg(c) => postgres::create_channel(c, name),
        },
    )
}
