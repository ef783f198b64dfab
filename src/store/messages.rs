//! The `messages` table, which is the one event log (PROTOCOL.md section 8): reads of
//! stored events. Inserting them is the write path's (`write.rs`, `stream_ops.rs`), which
//! keeps every count in step in the same transaction.
use diesel::prelude::*;
use serde::Serialize;

use super::channels::channel_by_name;
use super::ids::{ChannelId, Cursor, MessageId, UserId};
use super::schema::{channels, messages, users};
use super::users::user_by_name;
use super::DbConnection;
use crate::time::serialize_ms;

/// A validated message on its way in.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: String,
    pub user: String,
    pub text: String,
    pub sent_at: i64,
    /// The tags as a JSON object, `None` without any.
    pub tags: Option<String>,
    pub display_name: Option<String>,
    pub event_id: Option<String>,
}

/// A stored message with its channel and user names: the message object of the protocol.
#[derive(Debug, Clone, Queryable, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub channel: String,
    pub user_id: UserId,
    pub user: String,
    pub display_name: Option<String>,
    pub text: String,
    #[serde(serialize_with = "serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub sent_at: i64,
    #[serde(serialize_with = "serialize_tags")]
    #[schema(schema_with = crate::json_schema::tags, required = true)]
    pub tags: Option<String>,
    /// The event type (`message` for every v1 message); see [`EventType`].
    #[serde(skip)]
    pub kind: String,
    /// Its idempotency key, if it was given one.
    #[serde(skip)]
    pub event_id: Option<String>,
    /// The event's own fields, a JSON object (mentions, a share's context, ...).
    #[serde(skip)]
    pub payload: Option<String>,
    /// The event an edit, delete or share is about.
    #[serde(skip)]
    pub target_id: Option<MessageId>,
    #[serde(skip)]
    pub edited_at: Option<i64>,
    /// A deleted message keeps its row (and cursor) with its text emptied.
    #[serde(skip)]
    pub deleted: bool,
    /// In a private stream (or DM, or a thread of one): never in a v1 read, view, count or
    /// search.
    #[serde(skip)]
    pub private: bool,
}

/// The types of events in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Message,
    Shared,
    MemberJoined,
    MemberLeft,
    ThreadStarted,
    StreamPromoted,
    StreamUpdated,
    EventEdited,
    EventDeleted,
    /// A person's read cursor moved (`payload.last_read_event_id`): in the log so it takes a
    /// cursor, crosses nodes and replays on catch-up, but only on that person's `me` view,
    /// never in a stream's events.
    Read,
    /// A poll (issue 17): its question and options in `payload`, its tally in `polls`.
    Poll,
    /// A vote on the poll `target_id`: in the log for its cursor (the tally's change), in
    /// no stream's events (the stream view gets the merged `poll_tally`).
    PollVote,
    /// The poll `target_id` was closed.
    PollClosed,
    /// An uploaded file: its name, size and type in `payload`, its bytes in `file_chunks`.
    File,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        EventType::Message,
        EventType::Shared,
        EventType::MemberJoined,
        EventType::MemberLeft,
        EventType::ThreadStarted,
        EventType::StreamPromoted,
        EventType::StreamUpdated,
        EventType::EventEdited,
        EventType::EventDeleted,
        EventType::Read,
        EventType::Poll,
        EventType::PollVote,
        EventType::PollClosed,
        EventType::File,
    ];

    /// Rows of the log that are in no stream's events: read cursors and votes.
    pub const HIDDEN: [&'static str; 2] = ["read", "poll_vote"];

    /// Whether a stream's events show it (see [`EventType::HIDDEN`]).
    pub fn is_shown(self) -> bool {
        !matches!(self, EventType::Read | EventType::PollVote)
    }

    /// As stored in `messages.kind` and written in `event_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Message => "message",
            EventType::Shared => "shared",
            EventType::MemberJoined => "member_joined",
            EventType::MemberLeft => "member_left",
            EventType::ThreadStarted => "thread_started",
            EventType::StreamPromoted => "stream_promoted",
            EventType::StreamUpdated => "stream_updated",
            EventType::EventEdited => "event_edited",
            EventType::EventDeleted => "event_deleted",
            EventType::Read => "read",
            EventType::Poll => "poll",
            EventType::PollVote => "poll_vote",
            EventType::PollClosed => "poll_closed",
            EventType::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl Message {
    /// The event type; a row of a type this version does not know reads as a message.
    pub fn event_type(&self) -> EventType {
        EventType::parse(&self.kind).unwrap_or(EventType::Message)
    }

    /// A message that is not deleted: what counts, totals, search and v1 reads see.
    pub fn is_live_message(&self) -> bool {
        self.event_type() == EventType::Message && !self.deleted
    }

    /// The payload as a JSON object (empty without one).
    pub fn payload(&self) -> serde_json::Map<String, serde_json::Value> {
        self.payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default()
    }
}

fn serialize_tags<S: serde::Serializer>(tags: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    let value: serde_json::Value = tags
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    value.serialize(s)
}

type MessageColumns = (
    messages::id,
    messages::channel_id,
    channels::name,
    messages::user_id,
    users::username,
    users::display_name,
    messages::text,
    messages::sent_at,
    messages::tags,
    messages::kind,
    messages::event_id,
    messages::payload,
    messages::target_id,
    messages::edited_at,
    messages::deleted,
    messages::private,
);
pub(super) const MESSAGE_COLUMNS: MessageColumns = (
    messages::id,
    messages::channel_id,
    channels::name,
    messages::user_id,
    users::username,
    users::display_name,
    messages::text,
    messages::sent_at,
    messages::tags,
    messages::kind,
    messages::event_id,
    messages::payload,
    messages::target_id,
    messages::edited_at,
    messages::deleted,
    messages::private,
);

/// Which rows of the log a read takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Rows {
    /// Messages that are not deleted: v1 reads, search, counts.
    #[default]
    LiveMessages,
    /// Messages (deleted ones too) and their edits and deletes: the v1 live views.
    MessagesAndChanges,
    /// Every event: a stream's log.
    Events,
}

const MESSAGE: &str = "message";
type LiveOnly = diesel::dsl::And<diesel::dsl::Eq<messages::kind, &'static str>, diesel::dsl::not<messages::deleted>>;
/// The kind of the one row type no stream shows (a read cursor).
/// The rows v1 live views replay: messages, and their edits and deletes.
const V1_KINDS: [&str; 3] = ["message", "event_edited", "event_deleted"];

/// Which messages a list, a search or a live view wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MessageFilter {
    pub channel_id: Option<ChannelId>,
    pub user_id: Option<UserId>,
    pub rows: Rows,
}

impl MessageFilter {
    /// The filter for a channel and a user named by a client; `None` when a named one does
    /// not exist, so nothing can match.
    pub fn by_names(conn: &mut DbConnection, channel: Option<&str>, user: Option<&str>) -> QueryResult<Option<Self>> {
        let mut f = MessageFilter::default();
        if let Some(name) = channel {
            match channel_by_name(conn, name)? {
                Some(c) => f.channel_id = Some(c.id),
                None => return Ok(None),
            }
        }
        if let Some(name) = user {
            match user_by_name(conn, name)? {
                Some(u) => f.user_id = Some(u.id),
                None => return Ok(None),
            }
        }
        Ok(Some(f))
    }

    /// Narrows any query over `messages` to this filter.
    pub(super) fn apply<Q>(self, mut q: Q) -> Q
    where
        Q: diesel::query_dsl::methods::FilterDsl<diesel::dsl::Eq<messages::channel_id, ChannelId>, Output = Q>
            + diesel::query_dsl::methods::FilterDsl<diesel::dsl::Eq<messages::user_id, UserId>, Output = Q>
            + diesel::query_dsl::methods::FilterDsl<LiveOnly, Output = Q>
            + diesel::query_dsl::methods::FilterDsl<diesel::dsl::EqAny<messages::kind, [&'static str; 3]>, Output = Q>
            + diesel::query_dsl::methods::FilterDsl<diesel::dsl::Eq<messages::private, bool>, Output = Q>
            + diesel::query_dsl::methods::FilterDsl<diesel::dsl::NotEq<messages::kind, &'static str>, Output = Q>,
    {
        if let Some(c) = self.channel_id {
            q = q.filter(messages::channel_id.eq(c));
        }
        if let Some(u) = self.user_id {
            q = q.filter(messages::user_id.eq(u));
        }
        // v1 reads never see a private stream's rows; a stream's log (whose reader was
        // let in) every row but read cursors and votes.
        match self.rows {
            Rows::LiveMessages => q
                .filter(messages::kind.eq(MESSAGE).and(diesel::dsl::not(messages::deleted)))
                .filter(messages::private.eq(false)),
            Rows::MessagesAndChanges => q
                .filter(messages::kind.eq_any(V1_KINDS))
                .filter(messages::private.eq(false)),
            Rows::Events => {
                let [read, vote] = EventType::HIDDEN;
                q.filter(messages::kind.ne(read)).filter(messages::kind.ne(vote))
            }
        }
    }
}

/// A page of messages: ascending after `after`, otherwise newest first (before `before`).
pub fn list_messages(
    conn: &mut DbConnection,
    filter: MessageFilter,
    after: Option<Cursor>,
    before: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let _timer = crate::metrics::read_timer("list_messages");
    let mut q = filter.apply(
        messages::table
            .inner_join(channels::table)
            .inner_join(users::table)
            .select(MESSAGE_COLUMNS)
            .limit(limit)
            .into_boxed(),
    );
    if let Some(b) = before {
        q = q.filter(messages::id.lt(b));
    }
    match after {
        Some(a) => q.filter(messages::id.gt(a)).order(messages::id.asc()).load(conn),
        None => q.order(messages::id.desc()).load(conn),
    }
}

/// Whether more than `max` messages matching `filter` were stored after `after`,
/// answered without reading them.
pub fn backlog_exceeds(conn: &mut DbConnection, filter: MessageFilter, after: Cursor, max: i64) -> QueryResult<bool> {
    let _timer = crate::metrics::read_timer("backlog_exceeds");
    let q = filter.apply(
        messages::table
            .select(messages::id)
            .filter(messages::id.gt(after))
            .into_boxed(),
    );
    Ok(q.order(messages::id.asc())
        .offset(max)
        .limit(1)
        .first::<MessageId>(conn)
        .optional()?
        .is_some())
}

/// The messages with ids in `first..=last`, oldest first (a transaction's own rows).
/// The rows with these ids (any order; missing ones left out).
pub(super) fn by_ids(conn: &mut DbConnection, ids: Vec<MessageId>) -> QueryResult<Vec<Message>> {
    messages::table
        .inner_join(channels::table)
        .inner_join(users::table)
        .filter(messages::id.eq_any(ids))
        .select(MESSAGE_COLUMNS)
        .load(conn)
}

pub(super) fn between(conn: &mut DbConnection, first: MessageId, last: MessageId) -> QueryResult<Vec<Message>> {
    messages::table
        .inner_join(channels::table)
        .inner_join(users::table)
        .filter(messages::id.between(first, last))
        .order(messages::id.asc())
        .select(MESSAGE_COLUMNS)
        .load(conn)
}
