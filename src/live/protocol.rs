//! Views and envelopes of PROTOCOL.md section 4. Each envelope is serialized once into
//! shared bytes; every subscriber gets a clone of the same bytes.
use bytestring::ByteString;
use serde::Serialize;

use super::top::{TopList, TopScope};
use crate::domain::{valid_name, Window};
use crate::store::people::{Badge, Inbox, InboxEntry};
use crate::store::streams::EventObject;
use crate::store::{Channel, ChannelId, Committed, Cursor, EventType, Message, MessageId, Totals, User, UserId};
use crate::time::{format_ms, serialize_opt_ms};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum View {
    Home,
    Messages,
    Channels,
    Users,
    User(String),
    Channel(String),
    /// One stream's event log (PROTOCOL.md section 8).
    Stream(ChannelId),
    /// Stream states as they change (PROTOCOL.md section 8): anonymous, every public
    /// stream's; a signed-in person's, the streams they are in, with their badges.
    Workspace(Option<String>),
    /// Every public stream's state as it changes, signed in or not (what an anonymous
    /// `workspace` is): a page of all incidents, say.
    Streams,
    /// What concerns one signed-in person: mentions, memberships, read cursors.
    Me(String),
    /// Top channels and users over a window (issue 16): everything's, a channel's users or
    /// a user's channels.
    Top(Window, TopScope),
}

impl View {
    /// The views every server has a room for, whether anyone watches or not.
    pub const FIXED: [View; 4] = [View::Home, View::Messages, View::Channels, View::Users];

    /// The valid views, in words, for error messages.
    pub const VALID: &'static str =
        "home, messages, channels, users, user/<name>, channel/<name>, stream/<id>, workspace, streams, me, \
         top/<window>, top/<window>/channel/<name>, top/<window>/user/<name> (window: 5m, 1h, 24h, 7d, 30d)";

    pub fn parse(s: &str) -> Option<View> {
        match s {
            "home" => Some(View::Home),
            "messages" => Some(View::Messages),
            "channels" => Some(View::Channels),
            "users" => Some(View::Users),
            "workspace" => Some(View::Workspace(None)),
            "streams" => Some(View::Streams),
            // Whose: bound to the connection's user by [`View::for_user`].
            "me" => Some(View::Me(String::new())),
            _ if s.starts_with("top/") => {
                let mut parts = s.splitn(4, '/').skip(1);
                let window = Window::parse(parts.next()?)?;
                let scope = match (parts.next(), parts.next()) {
                    (None, _) => TopScope::All,
                    (Some("channel"), Some(name)) if valid_name(name) => TopScope::Channel(name.to_owned()),
                    (Some("user"), Some(name)) if valid_name(name) => TopScope::User(name.to_owned()),
                    _ => return None,
                };
                Some(View::Top(window, scope))
            }
            _ => {
                let (kind, name) = s.split_once('/')?;
                if kind == "stream" {
                    // Digits only: no sign, no leading `+`, nothing after.
                    if name.is_empty() || name.len() > 18 || !name.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    return name.parse().ok().map(|id| View::Stream(ChannelId(id)));
                }
                if !valid_name(name) {
                    return None;
                }
                match kind {
                    "user" => Some(View::User(name.to_owned())),
                    "channel" => Some(View::Channel(name.to_owned())),
                    _ => None,
                }
            }
        }
    }

    /// The view as `user` (a connection's signed-in person, if any) has it: `workspace` and
    /// `me` are theirs; `me` is nobody's without one.
    pub fn for_user(self, user: Option<&str>) -> Option<View> {
        match self {
            View::Workspace(_) => Some(View::Workspace(user.map(str::to_owned))),
            View::Me(_) => user.map(|u| View::Me(u.to_owned())),
            v => Some(v),
        }
    }

    /// A bounded label for metrics (never the name itself).
    pub fn kind(&self) -> &'static str {
        match self {
            View::Home => "home",
            View::Messages => "messages",
            View::Channels => "channels",
            View::Users => "users",
            View::User(_) => "user",
            View::Channel(_) => "channel",
            View::Stream(_) => "stream",
            View::Workspace(_) => "workspace",
            View::Streams => "streams",
            View::Me(_) => "me",
            View::Top(..) => "top",
        }
    }

    pub fn is_fixed(&self) -> bool {
        matches!(self, View::Home | View::Messages | View::Channels | View::Users)
    }

    /// Whether this view streams logged events (messages, a stream's events, a person's
    /// inbox).
    pub fn has_messages(&self) -> bool {
        !matches!(
            self,
            View::Channels | View::Users | View::Workspace(_) | View::Streams | View::Top(..)
        )
    }

    /// Whether `event` moves the SSE `id:` on in this view. In a view of messages only
    /// logged events do (a count can be newer than messages not yet sent); in a count view
    /// counts do.
    pub fn advances_id(&self, event: &Event) -> bool {
        event.kind.is_logged() || !self.has_messages()
    }

    /// Whether this view shows a logged row: a v1 view of messages shows messages and, as
    /// additive envelopes, their edits and deletes; a stream view every event of its stream.
    pub fn shows(&self, m: &Message) -> bool {
        if let View::Stream(id) = self {
            // A read cursor is its person's (their `me` view), a vote the tally's.
            return m.channel_id == *id && m.event_type().is_shown();
        }
        // No v1 view ever shows a private stream's rows.
        if m.private {
            return false;
        }
        let wanted = |user: &str| match self {
            View::Home | View::Messages => true,
            View::Channels
            | View::Users
            | View::Stream(_)
            | View::Workspace(_)
            | View::Streams
            | View::Me(_)
            | View::Top(..) => false,
            View::User(name) => user == name,
            View::Channel(name) => &m.channel == name,
        };
        match m.event_type() {
            EventType::Message => !m.deleted && wanted(&m.user),
            EventType::EventEdited => wanted(&m.user),
            // Shown where the deleted message was: a user's view is its author's.
            EventType::EventDeleted => {
                let author = m
                    .payload()
                    .get("target_user")
                    .and_then(|u| u.as_str())
                    .map(str::to_owned);
                wanted(author.as_deref().unwrap_or(&m.user))
            }
            _ => false,
        }
    }

    /// The envelope of a logged row for this view, if it [shows](View::shows) it.
    pub fn envelope(&self, m: &Message) -> Option<Event> {
        if !self.shows(m) {
            return None;
        }
        Some(match (self, m.event_type()) {
            (View::Stream(_), _) => stream_event(m, None),
            (_, EventType::EventEdited) => message_edited_event(m),
            (_, EventType::EventDeleted) => message_deleted_event(m),
            _ => message_event(m),
        })
    }

    /// Whether this view shows the counts of the channel named `name`.
    pub fn wants_channel(&self, c: &Channel) -> bool {
        match self {
            View::Channels => c.is_channel(),
            View::Channel(n) => c.is_channel() && *n == c.name,
            _ => false,
        }
    }

    /// Whether this view shows the counts of the user named `name`.
    pub fn wants_user(&self, name: &str) -> bool {
        match self {
            View::Users => true,
            View::User(n) => n == name,
            _ => false,
        }
    }

    /// Whether a commit changes anything this view shows.
    pub fn cares_about(&self, t: &Touched) -> bool {
        let c = t.committed;
        match self {
            // A message or a delete moves its user's and channel's counts; an edit moves
            // none, so the view is asked about the commit's few edits.
            View::User(name) => c.users.iter().any(|u| &u.username == name) || t.edits.iter().any(|m| self.shows(m)),
            View::Channel(name) => {
                c.channels.iter().any(|ch| &ch.name == name) || t.edits.iter().any(|m| self.shows(m))
            }
            View::Stream(id) => t.streams.contains(id) || c.channels.iter().any(|ch| ch.parent_stream_id == Some(*id)),
            View::Workspace(None) | View::Streams => c.channels.iter().any(|ch| !ch.private),
            View::Workspace(Some(user)) => c.badges.iter().any(|b| &b.user == user),
            View::Me(user) => c.inbox.iter().any(|e| &e.user == user),
            // A commit of private rows only changes nothing a v1 view shows.
            _ => t.public,
        }
    }
}

/// What a commit touched, worked out once for all the rooms the hub asks
/// [`View::cares_about`] (a commit may hold thousands of rows, the hub hundreds of rooms).
pub struct Touched<'a> {
    pub committed: &'a Committed,
    /// The streams its rows are in.
    pub streams: std::collections::HashSet<ChannelId>,
    /// Its edits: the one kind of row that changes no count.
    pub edits: Vec<&'a Message>,
    /// Whether any of its rows is in a public stream.
    pub public: bool,
    /// People who left a private stream: their live views of its streams end.
    pub left_private: Vec<String>,
}

impl<'a> Touched<'a> {
    pub fn new(committed: &'a Committed) -> Self {
        Touched {
            committed,
            streams: committed.messages.iter().map(|m| m.channel_id).collect(),
            edits: committed
                .messages
                .iter()
                .filter(|m| m.event_type() == EventType::EventEdited)
                .collect(),
            public: committed.messages.iter().any(|m| !m.private),
            left_private: committed
                .messages
                .iter()
                .filter(|m| m.private && m.event_type() == EventType::MemberLeft)
                .map(|m| m.user.clone())
                .collect(),
        }
    }
}

/// The type of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message,
    Metrics,
    ChannelCount,
    UserCount,
    UserProfile,
    Status,
    /// A stream's event (PROTOCOL.md section 8).
    Event,
    /// A v1 view's message was edited or deleted (additive envelopes).
    MessageEdited,
    MessageDeleted,
    /// A thread's reply count, on its parent's stream view (merged like counts).
    ReplyCount,
    /// A stream's state on the `workspace` view (merged like counts).
    StreamUpdated,
    StreamArchived,
    /// A member's badge in one stream, on their `workspace` view (merged like counts).
    Unread,
    /// On a person's `me` view, each once in cursor order like messages.
    Notification,
    MemberAdded,
    MemberRemoved,
    ReadCursor,
    /// Someone is typing in a stream: never stored, merged, dropped first.
    Typing,
    /// A whole top list, on a `top` view (merged like counts).
    Top,
    /// A poll's tally, on its stream's view (merged like counts).
    PollTally,
}

impl Kind {
    /// The envelope's `type`, the SSE `event:` name and the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Metrics => "metrics",
            Kind::ChannelCount => "channel_count",
            Kind::UserCount => "user_count",
            Kind::UserProfile => "user_profile",
            Kind::Status => "status",
            Kind::Event => "event",
            Kind::MessageEdited => "message_edited",
            Kind::MessageDeleted => "message_deleted",
            Kind::ReplyCount => "reply_count",
            Kind::StreamUpdated => "stream_updated",
            Kind::StreamArchived => "stream_archived",
            Kind::Unread => "unread",
            Kind::Notification => "notification",
            Kind::MemberAdded => "member_added",
            Kind::MemberRemoved => "member_removed",
            Kind::ReadCursor => "read_cursor",
            Kind::Typing => "typing",
            Kind::Top => "top",
            Kind::PollTally => "poll_tally",
        }
    }

    /// Whether it is a row of the event log: sent once, in cursor order, by catch-up or
    /// live (never merged or dropped while a connection is healthy).
    pub fn is_logged(self) -> bool {
        matches!(
            self,
            Kind::Message
                | Kind::Event
                | Kind::MessageEdited
                | Kind::MessageDeleted
                | Kind::Notification
                | Kind::MemberAdded
                | Kind::MemberRemoved
                | Kind::ReadCursor
        )
    }
}

/// One serialized envelope.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: Kind,
    pub cursor: Cursor,
    pub json: ByteString,
}

fn event<T: Serialize>(kind: Kind, cursor: Cursor, body: &T) -> Event {
    let json = serde_json::to_string(body).expect("envelopes always serialize");
    Event {
        kind,
        cursor,
        json: ByteString::from(json),
    }
}

#[derive(Serialize)]
struct MessageEnvelope<'a> {
    r#type: &'static str,
    message_id: MessageId,
    channel_id: ChannelId,
    channel: &'a str,
    user_id: UserId,
    user: &'a str,
    display_name: Option<&'a str>,
    text: &'a str,
    sent_at: String,
    cursor: Cursor,
}

pub fn message_event(m: &Message) -> Event {
    event(
        Kind::Message,
        m.id,
        &MessageEnvelope {
            r#type: "message",
            message_id: m.id,
            channel_id: m.channel_id,
            channel: &m.channel,
            user_id: m.user_id,
            user: &m.user,
            display_name: m.display_name.as_deref(),
            text: &m.text,
            sent_at: format_ms(m.sent_at),
            cursor: m.id,
        },
    )
}

/// A stream view's `event` envelope: the event object of the read API.
pub fn stream_event(m: &Message, extras: Option<&crate::store::streams::Extras>) -> Event {
    event(Kind::Event, m.id, &EventObject::new(m, extras))
}

#[derive(Serialize)]
struct MessageEdited<'a> {
    r#type: &'static str,
    message_id: Option<MessageId>,
    channel_id: ChannelId,
    text: &'a str,
    edited_at: String,
    cursor: Cursor,
}

/// A v1 view's `message_edited`: the message's new text.
pub fn message_edited_event(m: &Message) -> Event {
    event(
        Kind::MessageEdited,
        m.id,
        &MessageEdited {
            r#type: "message_edited",
            message_id: m.target_id,
            channel_id: m.channel_id,
            text: &m.text,
            edited_at: format_ms(m.sent_at),
            cursor: m.id,
        },
    )
}

/// A v1 view's `message_deleted`: the message is gone.
pub fn message_deleted_event(m: &Message) -> Event {
    event(
        Kind::MessageDeleted,
        m.id,
        &serde_json::json!({
            "type": "message_deleted", "message_id": m.target_id, "channel_id": m.channel_id, "cursor": m.id,
        }),
    )
}

/// A thread's reply count on its parent's stream view.
pub fn reply_count_event(thread: &Channel) -> Event {
    event(
        Kind::ReplyCount,
        thread.last_message_id,
        &serde_json::json!({
            "type": "reply_count", "stream_id": thread.parent_stream_id, "thread_stream_id": thread.id,
            "event_id": thread.branched_from_event_id, "reply_count": thread.total_messages,
            "cursor": thread.last_message_id,
        }),
    )
}

#[derive(Serialize)]
struct StreamState<'a> {
    r#type: &'static str,
    stream_id: ChannelId,
    kind: &'a str,
    /// `public`, `private`, or `inherit` (a thread), as in the stream object.
    visibility: &'static str,
    name: Option<&'a str>,
    status: &'a str,
    parent_stream_id: Option<ChannelId>,
    total_events: i64,
    #[serde(serialize_with = "serialize_opt_ms")]
    last_event_at: Option<i64>,
    cursor: Cursor,
}

/// A stream's state on the `workspace` view: `stream_archived` once archived, otherwise
/// `stream_updated` (also for a stream just created: a client adds what it does not know).
pub fn stream_state_event(s: &Channel) -> Event {
    let archived = s.status == "archived";
    let (kind, name) = if archived {
        (Kind::StreamArchived, "stream_archived")
    } else {
        (Kind::StreamUpdated, "stream_updated")
    };
    event(
        kind,
        s.last_message_id,
        &StreamState {
            r#type: name,
            stream_id: s.id,
            kind: &s.kind,
            visibility: match (s.kind.as_str(), s.private) {
                ("thread", _) => "inherit",
                (_, true) => "private",
                (_, false) => "public",
            },
            name: s.display_name(),
            status: &s.status,
            parent_stream_id: s.parent_stream_id,
            total_events: s.total_messages,
            last_event_at: s.last_message_at,
            cursor: s.last_message_id,
        },
    )
}

/// A member's badge on their `workspace` view.
/// A poll's tally on its stream's view (merged like counts: the latest wins).
pub fn poll_tally_event(t: &crate::store::polls::Tally) -> Event {
    #[derive(Serialize)]
    struct PollTally<'a> {
        r#type: &'static str,
        #[serde(flatten)]
        tally: &'a crate::store::polls::Tally,
    }
    event(
        Kind::PollTally,
        t.cursor,
        &PollTally {
            r#type: "poll_tally",
            tally: t,
        },
    )
}

/// A whole top list (merged like counts: the latest replaces what a client shows).
pub fn top_event(list: &TopList) -> Event {
    event(Kind::Top, list.cursor, list)
}

pub fn unread_event(b: &Badge) -> Event {
    event(
        Kind::Unread,
        b.cursor,
        &serde_json::json!({
            "type": "unread", "stream_id": b.stream_id, "unread_count": b.unread_count,
            "mention_count": b.mention_count, "last_read_event_id": b.last_read_id, "cursor": b.cursor,
        }),
    )
}

/// An inbox row on its person's `me` view; `row` is the log row at its cursor (a mention's
/// message or edit), when the caller has it.
pub fn inbox_event(e: &InboxEntry, row: Option<&Message>) -> Event {
    let (kind, body) = match e.kind {
        Inbox::Mention => (
            Kind::Notification,
            serde_json::json!({
                "type": "notification", "stream_id": e.stream_id, "event_id": e.event_id,
                "actor": row.map(|m| m.user.as_str()), "text": row.map(|m| m.text.as_str()),
                "created_at": row.map(|m| format_ms(m.sent_at)), "cursor": e.cursor,
            }),
        ),
        Inbox::MemberAdded | Inbox::MemberRemoved => {
            let (kind, name) = if e.kind == Inbox::MemberAdded {
                (Kind::MemberAdded, "member_added")
            } else {
                (Kind::MemberRemoved, "member_removed")
            };
            (
                kind,
                serde_json::json!({"type": name, "stream_id": e.stream_id, "user": e.user, "cursor": e.cursor}),
            )
        }
        Inbox::Read => (
            Kind::ReadCursor,
            serde_json::json!({
                "type": "read_cursor", "stream_id": e.stream_id, "last_read_event_id": e.event_id,
                "cursor": e.cursor,
            }),
        ),
    };
    event(kind, e.cursor, &body)
}

/// Someone typing in a stream, until `expires_at`.
pub fn typing_event(stream: ChannelId, user: &str, expires_at: i64) -> Event {
    event(
        Kind::Typing,
        Cursor::default(),
        &serde_json::json!({
            "type": "typing", "stream_id": stream, "user": user, "expires_at": format_ms(expires_at),
        }),
    )
}

pub fn metrics_event(t: &Totals) -> Event {
    event(
        Kind::Metrics,
        t.cursor,
        &serde_json::json!({
            "type": "metrics", "total_messages": t.total_messages, "total_channels": t.total_channels,
            "total_users": t.total_users, "cursor": t.cursor,
        }),
    )
}

#[derive(Serialize)]
struct ChannelCount<'a> {
    r#type: &'static str,
    channel_id: ChannelId,
    channel: &'a str,
    total_messages: i64,
    #[serde(serialize_with = "serialize_opt_ms")]
    last_message_at: Option<i64>,
    cursor: Cursor,
}

/// A channel's count; `name` stands in for a channel nobody has written in yet.
pub fn channel_count_event(c: Option<&Channel>, name: &str) -> Event {
    let cursor = c.map(|c| c.last_message_id).unwrap_or_default();
    event(
        Kind::ChannelCount,
        cursor,
        &ChannelCount {
            r#type: "channel_count",
            channel_id: c.map(|c| c.id).unwrap_or_default(),
            channel: c.map_or(name, |c| &c.name),
            total_messages: c.map_or(0, |c| c.total_messages),
            last_message_at: c.and_then(|c| c.last_message_at),
            cursor,
        },
    )
}

#[derive(Serialize)]
struct UserCount<'a> {
    r#type: &'static str,
    user_id: UserId,
    user: &'a str,
    total_messages: i64,
    #[serde(serialize_with = "serialize_opt_ms")]
    last_seen_at: Option<i64>,
    cursor: Cursor,
}

pub fn user_count_event(u: &User) -> Event {
    event(
        Kind::UserCount,
        u.last_message_id,
        &UserCount {
            r#type: "user_count",
            user_id: u.id,
            user: &u.username,
            total_messages: u.total_messages,
            last_seen_at: u.last_seen_at,
            cursor: u.last_message_id,
        },
    )
}

#[derive(Serialize)]
struct UserProfile<'a> {
    r#type: &'static str,
    user_id: UserId,
    user: &'a str,
    total_messages: i64,
    #[serde(serialize_with = "serialize_opt_ms")]
    last_seen_at: Option<i64>,
    #[serde(serialize_with = "serialize_opt_ms")]
    last_message_at: Option<i64>,
    message_id: Option<MessageId>,
    cursor: Cursor,
}

/// A user's profile; `name` stands in for a user nobody has seen yet.
pub fn user_profile_event(u: Option<&User>, name: &str) -> Event {
    let cursor = u.map(|u| u.last_message_id).unwrap_or_default();
    event(
        Kind::UserProfile,
        cursor,
        &UserProfile {
            r#type: "user_profile",
            user_id: u.map(|u| u.id).unwrap_or_default(),
            user: u.map_or(name, |u| &u.username),
            total_messages: u.map_or(0, |u| u.total_messages),
            last_seen_at: u.and_then(|u| u.last_seen_at),
            last_message_at: u.and_then(|u| u.last_message_at),
            message_id: u.map(|u| u.last_message_id).filter(|id| id.0 > 0),
            cursor,
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Connected,
    Idle,
    Overflow,
    BacklogTooLarge,
    EpochChanged,
    TooManyConnections,
    BadRequest,
    /// The server failed while serving the view (a store error during catch-up).
    ServerError,
    ServerShutdown,
    /// The cursor is older than the oldest event kept (`--retention`): what it missed may
    /// be gone.
    Pruned,
    /// The connection's person left a private stream this view shows (or sees through):
    /// the client subscribes again, and the view is checked again.
    MembershipChanged,
}

impl Status {
    pub fn state(self) -> &'static str {
        match self {
            Status::Connected => "connected",
            Status::Idle => "idle",
            Status::Overflow | Status::BadRequest | Status::ServerError => "error",
            Status::BacklogTooLarge | Status::EpochChanged | Status::TooManyConnections | Status::Pruned => "fallback",
            Status::ServerShutdown | Status::MembershipChanged => "reconnecting",
        }
    }
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Status::Connected => None,
            Status::Idle => Some("no_events"),
            Status::Overflow => Some("overflow"),
            Status::BacklogTooLarge => Some("backlog_too_large"),
            Status::EpochChanged => Some("epoch_changed"),
            Status::TooManyConnections => Some("too_many_connections"),
            Status::BadRequest => Some("bad_request"),
            Status::ServerError => Some("server_error"),
            Status::ServerShutdown => Some("server_shutdown"),
            Status::MembershipChanged => Some("membership_changed"),
            Status::Pruned => Some("pruned"),
        }
    }
    /// The WebSocket close code that follows this status, if it ends the connection.
    pub fn close_code(self) -> Option<u16> {
        match self {
            Status::Connected | Status::Idle => None,
            Status::Overflow => Some(4008),
            Status::BacklogTooLarge | Status::EpochChanged | Status::Pruned => Some(4009),
            Status::TooManyConnections => Some(4013),
            Status::BadRequest => Some(4000),
            Status::ServerError => Some(1011),
            Status::ServerShutdown => Some(1001),
            Status::MembershipChanged => Some(4003),
        }
    }
    /// How long a client should wait before trying live again.
    pub fn retry_after_ms(self) -> Option<u64> {
        match self {
            Status::Overflow => Some(1000),
            Status::ServerError => Some(2000),
            Status::TooManyConnections => Some(30_000),
            Status::ServerShutdown => Some(2000),
            Status::MembershipChanged => Some(0),
            _ => None,
        }
    }
    /// The label for `chatpulse_live_connections_closed_total`.
    pub fn close_reason(self) -> &'static str {
        match self {
            Status::Overflow => "overflow",
            Status::BacklogTooLarge | Status::EpochChanged | Status::Pruned => "fallback",
            Status::TooManyConnections => "refused",
            Status::BadRequest => "bad_request",
            Status::ServerError => "server_error",
            Status::ServerShutdown => "shutdown",
            Status::MembershipChanged => "membership_changed",
            Status::Connected | Status::Idle => "normal",
        }
    }
}

pub fn status_event(status: Status, cursor: Cursor, epoch: &str) -> Event {
    event(
        Kind::Status,
        cursor,
        &serde_json::json!({
            "type": "status", "state": status.state(), "reason": status.reason(),
            "retry_after_ms": status.retry_after_ms(), "cursor": cursor, "epoch": epoch,
        }),
    )
}

/// A frame a client may send over WebSocket.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Subscribe {
        view: String,
        after_id: Option<Cursor>,
        epoch: Option<String>,
    },
    /// The connection's person is typing in the stream its view shows.
    Typing { stream_id: ChannelId },
}
