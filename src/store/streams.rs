//! Streams (PROTOCOL.md section 8): every row of `channels` is one, of kind `channel`,
//! `thread`, `incident` (or `dm`, reserved). Reads of streams, their members and their
//! event logs; changing them is `stream_ops.rs`'s, inside the write transaction.
use std::collections::HashMap;

use diesel::prelude::*;

use super::ids::{ChannelId, Cursor, MessageId, UserId};
use super::messages::{EventType, Message, MESSAGE_COLUMNS};
use super::schema::{channels, messages, stream_members, users};
use super::DbConnection;

/// What a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    Channel,
    Thread,
    Incident,
    Dm,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Channel => "channel",
            StreamKind::Thread => "thread",
            StreamKind::Incident => "incident",
            StreamKind::Dm => "dm",
        }
    }

    pub fn parse(s: &str) -> Option<StreamKind> {
        [
            StreamKind::Channel,
            StreamKind::Thread,
            StreamKind::Incident,
            StreamKind::Dm,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    Active,
    Archived,
    Resolved,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Active => "active",
            StreamStatus::Archived => "archived",
            StreamStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<StreamStatus> {
        [StreamStatus::Active, StreamStatus::Archived, StreamStatus::Resolved]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One stream as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub struct Stream {
    pub id: ChannelId,
    /// The unique key: a channel's slug, `~<id>` for any other stream.
    pub name: String,
    pub kind: String,
    /// An incident's or thread's name.
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: String,
    pub status: String,
    pub parent_stream_id: Option<ChannelId>,
    pub branched_from_event_id: Option<MessageId>,
    pub promoted_at: Option<i64>,
    pub promoted_by: Option<String>,
    pub metadata: Option<String>,
    pub created_at: Option<i64>,
    pub archived_at: Option<i64>,
    pub total_messages: i64,
    pub last_message_at: Option<i64>,
    pub last_message_id: Cursor,
    /// A private stream, a DM, or a thread of one (see [`super::people::can_see`]).
    pub private: bool,
    /// The stream whose members may see this private one: itself, or a thread's private
    /// ancestor.
    pub access_id: Option<ChannelId>,
}

impl Stream {
    pub fn kind(&self) -> StreamKind {
        StreamKind::parse(&self.kind).unwrap_or(StreamKind::Channel)
    }

    pub fn status(&self) -> StreamStatus {
        StreamStatus::parse(&self.status).unwrap_or(StreamStatus::Active)
    }

    /// Its name as people see it: a public channel's slug, any other stream's title (a
    /// private channel's slug, a DM's members).
    pub fn display_name(&self) -> Option<&str> {
        match self.kind() {
            StreamKind::Channel if !self.private => Some(&self.name),
            _ => self.title.as_deref(),
        }
    }

    /// `public`, `private`, or `inherit` (a thread: its parent's).
    pub fn visibility(&self) -> &'static str {
        match (self.kind(), self.private) {
            (StreamKind::Thread, _) => "inherit",
            (_, true) => "private",
            (_, false) => "public",
        }
    }
}

/// The key of a stream that is not a channel: outside the name rule, so no v1 channel
/// name can take it.
pub fn unnamed_key(id: ChannelId) -> String {
    format!("~{id}")
}

pub fn stream_by_id(conn: &mut DbConnection, id: ChannelId) -> QueryResult<Option<Stream>> {
    let _timer = crate::metrics::read_timer("stream_by_id");
    channels::table
        .find(id)
        .select(Stream::as_select())
        .first(conn)
        .optional()
}

/// Streams `user` may see (anonymous: public ones), newest first, of one kind and status
/// when given; at most `limit`.
pub fn list_streams(
    conn: &mut DbConnection,
    user: Option<UserId>,
    kind: Option<StreamKind>,
    status: Option<StreamStatus>,
    limit: i64,
) -> QueryResult<Vec<Stream>> {
    let _timer = crate::metrics::read_timer("list_streams");
    let mut q = channels::table
        .select(Stream::as_select())
        .order(channels::id.desc())
        .limit(limit)
        .into_boxed();
    q = match user {
        Some(u) => q.filter(
            channels::private.eq(false).or(channels::access_id.eq_any(
                stream_members::table
                    .filter(stream_members::user_id.eq(u))
                    .select(stream_members::stream_id.nullable()),
            )),
        ),
        None => q.filter(channels::private.eq(false)),
    };
    if let Some(k) = kind {
        q = q.filter(channels::kind.eq(k.as_str()));
    }
    if let Some(s) = status {
        q = q.filter(channels::status.eq(s.as_str()));
    }
    q.load(conn)
}

/// Threads of `parent` whose count changed after `after`, oldest change first; at most
/// `limit` (a stream view's catch-up of reply counts).
pub fn threads_changed_after(
    conn: &mut DbConnection,
    parent: ChannelId,
    after: Cursor,
    limit: i64,
) -> QueryResult<Vec<super::Channel>> {
    channels::table
        .filter(channels::parent_stream_id.eq(parent))
        .filter(channels::last_message_id.gt(after))
        .order(channels::last_message_id.asc())
        .limit(limit)
        .select(super::Channel::as_select())
        .load(conn)
}

/// The thread branched from `event`, if any.
pub fn thread_of(conn: &mut DbConnection, event: MessageId) -> QueryResult<Option<Stream>> {
    channels::table
        .filter(channels::branched_from_event_id.eq(event))
        .select(Stream::as_select())
        .first(conn)
        .optional()
}

/// A member of a stream.
#[derive(Debug, Clone, Queryable, serde::Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user: String,
    /// `owner` (made the stream) or `member`.
    pub role: String,
    #[serde(serialize_with = "crate::time::serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub joined_at: i64,
}

pub fn members(conn: &mut DbConnection, stream: ChannelId) -> QueryResult<Vec<Member>> {
    stream_members::table
        .inner_join(users::table)
        .filter(stream_members::stream_id.eq(stream))
        .order(stream_members::joined_at.asc())
        .select((users::username, stream_members::role, stream_members::joined_at))
        .load(conn)
}

/// The role `user` has in `stream`, if they are a member.
pub fn role_of(conn: &mut DbConnection, stream: ChannelId, user: UserId) -> QueryResult<Option<String>> {
    stream_members::table
        .find((stream, user))
        .select(stream_members::role)
        .first(conn)
        .optional()
}

/// A stream's events in cursor order after `after` (or the newest before `before`,
/// returned oldest first), at most `limit`, each in its current state.
pub fn list_events(
    conn: &mut DbConnection,
    stream: ChannelId,
    after: Option<Cursor>,
    before: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let _timer = crate::metrics::read_timer("list_events");
    let mut q = messages::table
        .inner_join(channels::table)
        .inner_join(users::table)
        .select(MESSAGE_COLUMNS)
        .filter(messages::channel_id.eq(stream))
        // A read cursor is its person's (their `me` view), a vote the tally's.
        .filter(messages::kind.ne_all(EventType::HIDDEN))
        .limit(limit)
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(messages::id.lt(b));
    }
    match after {
        Some(a) => q.filter(messages::id.gt(a)).order(messages::id.asc()).load(conn),
        None => {
            let mut rows: Vec<Message> = q.order(messages::id.desc()).load(conn)?;
            rows.reverse();
            Ok(rows)
        }
    }
}

/// One event by id.
pub fn event_by_id(conn: &mut DbConnection, id: MessageId) -> QueryResult<Option<Message>> {
    messages::table
        .inner_join(channels::table)
        .inner_join(users::table)
        .select(MESSAGE_COLUMNS)
        .filter(messages::id.eq(id))
        .first(conn)
        .optional()
}

/// What an event's object shows beside its row: a message's thread and its replies, a
/// share's original in its current state.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// By message id: the thread branched from it and the messages in that thread.
    pub threads: HashMap<MessageId, (ChannelId, i64)>,
    /// By original id: its current text, `None` once deleted.
    pub originals: HashMap<MessageId, Option<String>>,
    /// By poll event id: its tally now.
    pub polls: HashMap<MessageId, super::polls::Tally>,
}

/// The extras of `events` (a page or a catch-up batch: bounded by the read's limit).
pub fn extras(conn: &mut DbConnection, events: &[Message]) -> QueryResult<Extras> {
    let messages: Vec<MessageId> = events
        .iter()
        .filter(|e| e.event_type() == EventType::Message)
        .map(|e| e.id)
        .collect();
    let originals: Vec<MessageId> = events
        .iter()
        .filter(|e| e.event_type() == EventType::Shared)
        .filter_map(|e| e.target_id)
        .collect();
    let polls: Vec<MessageId> = events
        .iter()
        .filter(|e| e.event_type() == EventType::Poll && !e.deleted)
        .map(|e| e.id)
        .collect();
    let mut out = Extras {
        polls: super::polls::of_events(conn, &polls)?
            .into_iter()
            .map(|p| (p.tally.event_id, p.tally))
            .collect(),
        ..Default::default()
    };
    for chunk in messages.chunks(500) {
        let rows: Vec<(ChannelId, Option<MessageId>, i64)> = channels::table
            .filter(channels::branched_from_event_id.eq_any(chunk))
            .select((channels::id, channels::branched_from_event_id, channels::total_messages))
            .load(conn)?;
        out.threads
            .extend(rows.into_iter().filter_map(|(id, from, n)| Some((from?, (id, n)))));
    }
    for chunk in originals.chunks(500) {
        let rows: Vec<(MessageId, String, bool)> = messages::table
            .filter(messages::id.eq_any(chunk))
            .select((messages::id, messages::text, messages::deleted))
            .load(conn)?;
        out.originals.extend(
            rows.into_iter()
                .map(|(id, text, deleted)| (id, (!deleted).then_some(text))),
        );
    }
    Ok(out)
}

/// An event as every reader sees it (PROTOCOL.md section 8): the same object in a read, a
/// catch-up and a live envelope. Fields beyond the common ones appear for the event types
/// that have them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EventObject {
    /// Always `event`.
    #[schema(value_type = String)]
    pub r#type: &'static str,
    /// The event's id, which is its cursor.
    pub event_id: MessageId,
    pub cursor: Cursor,
    pub stream_id: ChannelId,
    /// `message`, `shared`, `member_joined`, `member_left`, `thread_started`,
    /// `stream_promoted`, `stream_updated`, `event_edited` or `event_deleted`.
    pub event_type: &'static str,
    /// Who did it.
    pub actor: String,
    #[serde(serialize_with = "crate::time::serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub created_at: i64,
    /// A message's current text (absent once deleted), an edit's new text, the current
    /// text of a shared original (absent once it is deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `message`: the names it mentions (`@name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mentions: Option<Vec<String>>,
    /// `message`, `event_edited`: when it was last edited.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::time::serialize_opt_ms"
    )]
    #[schema(schema_with = crate::json_schema::time_or_null)]
    pub edited_at: Option<i64>,
    /// `message`: whether it was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// `message`: the thread branched from it, if any; `thread_started` too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_stream_id: Option<ChannelId>,
    /// `message`: messages in its thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_count: Option<i64>,
    /// `message`: the poster's own id for it, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_temp_id: Option<String>,
    /// `shared`: the original event and its stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_event_id: Option<MessageId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_stream_id: Option<ChannelId>,
    /// `shared`: what the sharer said about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// `member_joined`, `member_left`: who.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `member_joined`: who added them, when not themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
    /// `thread_started`: the event of this stream the thread branched from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branched_from_event_id: Option<MessageId>,
    /// `stream_promoted`: what the stream was and became, and its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_kind: Option<String>,
    /// `stream_promoted`, `stream_updated`: the (new) name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `stream_updated`: the new description and status, when they changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `event_edited`, `event_deleted`: the message it changed; `poll_closed`: the poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_event_id: Option<MessageId>,
    /// `poll`: the question, the options and the tally (absent once deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollObject>,
    /// `file`: what was uploaded and where to download it (absent once deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileObject>,
}

/// A poll as its event shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PollObject {
    pub question: String,
    pub options: Vec<String>,
    /// Whether a vote may choose several options.
    pub multiple: bool,
    /// Votes for each option, in order, and how many people voted: as of the read (a
    /// live `event` envelope of a new poll: none yet; `poll_tally` envelopes follow).
    pub counts: Vec<i64>,
    pub voters: i64,
    #[serde(serialize_with = "crate::time::serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null)]
    pub closes_at: Option<i64>,
    #[serde(serialize_with = "crate::time::serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null)]
    pub closed_at: Option<i64>,
}

/// A file as its event shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FileObject {
    pub name: String,
    /// Bytes.
    pub size: i64,
    pub content_type: String,
    /// Where to download it (`Content-Disposition: attachment`, `Range` honoured).
    pub url: String,
}

impl EventObject {
    /// The object of `m`; `extras` (from [`extras`]) adds a message's thread and a share's
    /// current original, where they were read.
    pub fn new(m: &Message, extras: Option<&Extras>) -> EventObject {
        let t = m.event_type();
        let p = m.payload();
        let string = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let id = |k: &str| p.get(k).and_then(|v| v.as_i64());
        let mut o = EventObject {
            r#type: "event",
            event_id: m.id,
            cursor: m.id,
            stream_id: m.channel_id,
            event_type: t.as_str(),
            actor: m.user.clone(),
            created_at: m.sent_at,
            text: None,
            mentions: None,
            edited_at: None,
            deleted: None,
            thread_stream_id: None,
            reply_count: None,
            client_temp_id: None,
            original_event_id: None,
            original_stream_id: None,
            context: None,
            user: None,
            added_by: None,
            branched_from_event_id: None,
            from_kind: None,
            to_kind: None,
            name: None,
            description: None,
            status: None,
            target_event_id: None,
            poll: None,
            file: None,
        };
        match t {
            EventType::Message => {
                o.text = (!m.deleted).then(|| m.text.clone());
                o.mentions = Some(
                    p.get("mentions")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or_default(),
                );
                o.edited_at = m.edited_at;
                o.deleted = Some(m.deleted);
                let thread = extras.and_then(|x| x.threads.get(&m.id));
                o.thread_stream_id = thread.map(|t| t.0);
                o.reply_count = Some(thread.map_or(0, |t| t.1));
                o.client_temp_id = string("client_temp_id");
            }
            EventType::Shared => {
                o.original_event_id = id("original_event_id").map(MessageId);
                o.original_stream_id = id("original_stream_id").map(ChannelId);
                o.context = string("context");
                o.text = match m.target_id.and_then(|t| extras?.originals.get(&t)) {
                    Some(current) => current.clone(),
                    None => Some(m.text.clone()),
                };
            }
            EventType::MemberJoined | EventType::MemberLeft => {
                o.user = string("user");
                o.added_by = string("added_by");
            }
            EventType::ThreadStarted => {
                o.thread_stream_id = id("thread_stream_id").map(ChannelId);
                o.branched_from_event_id = id("branched_from_event_id").map(MessageId);
            }
            EventType::StreamPromoted => {
                o.from_kind = string("from_kind");
                o.to_kind = string("to_kind");
                o.name = string("name");
            }
            EventType::StreamUpdated => {
                o.name = string("name");
                o.description = string("description");
                o.status = string("status");
            }
            EventType::EventEdited => {
                o.target_event_id = m.target_id;
                o.text = Some(m.text.clone());
                o.edited_at = Some(m.sent_at);
            }
            EventType::EventDeleted => o.target_event_id = m.target_id,
            EventType::Read | EventType::PollVote | EventType::PollClosed => o.target_event_id = m.target_id,
            EventType::Poll => {
                o.deleted = Some(m.deleted);
                if !m.deleted {
                    let options: Vec<String> = p
                        .get("options")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or_default();
                    let tally = extras.and_then(|x| x.polls.get(&m.id));
                    o.poll = Some(PollObject {
                        question: string("question").unwrap_or_default(),
                        counts: tally.map_or_else(|| vec![0; options.len()], |t| t.counts.clone()),
                        voters: tally.map_or(0, |t| t.voters),
                        closed_at: tally.and_then(|t| t.closed_at),
                        options,
                        multiple: p.get("multiple").and_then(|v| v.as_bool()).unwrap_or(false),
                        closes_at: id("closes_at"),
                    });
                }
            }
            EventType::File => {
                o.deleted = Some(m.deleted);
                if !m.deleted {
                    o.file = Some(FileObject {
                        name: string("name").unwrap_or_default(),
                        size: id("size").unwrap_or(0),
                        content_type: string("content_type").unwrap_or_default(),
                        url: format!("/api/streams/{}/files/{}", m.channel_id.0, m.id.0),
                    });
                }
            }
        }
        o
    }
}

/// A stream as the API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StreamObject {
    pub id: ChannelId,
    pub kind: StreamKind,
    /// A channel's slug, an incident's or thread's name (a thread may have none).
    pub name: Option<String>,
    pub description: Option<String>,
    /// `public`, `private` (a private channel or incident, a DM), or `inherit` for a
    /// thread (its parent's).
    pub visibility: String,
    pub status: StreamStatus,
    pub parent_stream_id: Option<ChannelId>,
    pub branched_from_event_id: Option<MessageId>,
    #[serde(serialize_with = "crate::time::serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null, required = true)]
    pub promoted_at: Option<i64>,
    pub promoted_by: Option<String>,
    /// Free-form JSON an application keeps with the stream (`null` without).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[serde(serialize_with = "crate::time::serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null, required = true)]
    pub created_at: Option<i64>,
    #[serde(serialize_with = "crate::time::serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null, required = true)]
    pub archived_at: Option<i64>,
    /// Its messages that are not deleted.
    pub total_events: i64,
    #[serde(serialize_with = "crate::time::serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null, required = true)]
    pub last_event_at: Option<i64>,
    /// Whether the caller is a member (`false` for an anonymous caller).
    pub is_member: bool,
    /// A member's read cursor and badges: messages by others after it (not deleted), and
    /// those of them that mention the caller; absent for anyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_event_id: Option<MessageId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mention_count: Option<i64>,
    /// A DM's people (every DM lists them; other streams' are `GET .../members`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

impl StreamObject {
    pub fn new(s: &Stream, is_member: bool) -> StreamObject {
        StreamObject {
            id: s.id,
            kind: s.kind(),
            name: s.display_name().map(str::to_owned),
            description: s.description.clone(),
            visibility: s.visibility().to_owned(),
            status: s.status(),
            parent_stream_id: s.parent_stream_id,
            branched_from_event_id: s.branched_from_event_id,
            promoted_at: s.promoted_at,
            promoted_by: s.promoted_by.clone(),
            metadata: s.metadata.as_deref().and_then(|m| serde_json::from_str(m).ok()),
            created_at: s.created_at,
            archived_at: s.archived_at,
            total_events: s.total_messages,
            last_event_at: s.last_message_at,
            is_member,
            last_read_event_id: None,
            unread_count: None,
            mention_count: None,
            members: None,
        }
    }

    /// The stream as its member sees it in their list, with their badge.
    pub fn of_member(m: &super::people::Membership) -> StreamObject {
        StreamObject {
            last_read_event_id: Some(m.last_read_id),
            unread_count: Some(m.unread_count),
            mention_count: Some(m.mention_count),
            ..StreamObject::new(&m.stream, true)
        }
    }
}
