//! A bus entry's payload: what one commit changed, as JSON. Its own shape (not the API's),
//! so the API can change without breaking nodes of one version talking to each other, and
//! so it carries what the API leaves out (each entity's newest message).
use serde::{Deserialize, Serialize};

use crate::store::people::{Badge, InboxEntry};
use crate::store::polls::Tally;
use crate::store::top::Removed;
use crate::store::{Channel, ChannelId, Committed, Message, MessageId, Totals, User, UserId};

#[derive(Serialize, Deserialize)]
pub struct Payload {
    messages: Vec<WireMessage>,
    channels: Vec<WireChannel>,
    users: Vec<WireUser>,
    totals: [i64; 4],
    /// Read state and the personal inbox (issue 13); absent from older nodes' entries.
    #[serde(default)]
    badges: Vec<Badge>,
    #[serde(default)]
    inbox: Vec<InboxEntry>,
    /// What its deletes took out (issue 16's top lists); absent from older nodes' entries.
    #[serde(default)]
    removed: Vec<Removed>,
    /// Poll tallies (issue 17); absent from older nodes' entries.
    #[serde(default)]
    polls: Vec<Tally>,
}

#[derive(Serialize, Deserialize)]
struct WireMessage {
    id: i64,
    channel_id: i64,
    channel: String,
    user_id: i64,
    user: String,
    display_name: Option<String>,
    text: String,
    sent_at: i64,
    tags: Option<String>,
    /// The event fields (PROTOCOL.md section 8); absent from a v1 node's entries.
    #[serde(default = "message_kind")]
    kind: String,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    target_id: Option<i64>,
    #[serde(default)]
    edited_at: Option<i64>,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    private: bool,
}

fn message_kind() -> String {
    "message".into()
}

#[derive(Serialize, Deserialize)]
struct WireChannel {
    id: i64,
    name: String,
    total_messages: i64,
    last_message_at: Option<i64>,
    last_message_id: i64,
    #[serde(default = "channel_kind")]
    kind: String,
    #[serde(default)]
    parent_stream_id: Option<i64>,
    #[serde(default)]
    branched_from_event_id: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default = "active")]
    status: String,
    #[serde(default)]
    private: bool,
}

fn active() -> String {
    "active".into()
}

fn channel_kind() -> String {
    "channel".into()
}

#[derive(Serialize, Deserialize)]
struct WireUser {
    id: i64,
    username: String,
    display_name: Option<String>,
    total_messages: i64,
    first_seen_at: Option<i64>,
    last_seen_at: Option<i64>,
    last_message_at: Option<i64>,
    last_message_id: i64,
}

impl From<&Committed> for Payload {
    fn from(c: &Committed) -> Self {
        Payload {
            messages: c
                .messages
                .iter()
                .map(|m| WireMessage {
                    id: m.id.0,
                    channel_id: m.channel_id.0,
                    channel: m.channel.clone(),
                    user_id: m.user_id.0,
                    user: m.user.clone(),
                    display_name: m.display_name.clone(),
                    text: m.text.clone(),
                    sent_at: m.sent_at,
                    tags: m.tags.clone(),
                    kind: m.kind.clone(),
                    event_id: m.event_id.clone(),
                    payload: m.payload.clone(),
                    target_id: m.target_id.map(|t| t.0),
                    edited_at: m.edited_at,
                    deleted: m.deleted,
                    private: m.private,
                })
                .collect(),
            channels: c
                .channels
                .iter()
                .map(|ch| WireChannel {
                    id: ch.id.0,
                    name: ch.name.clone(),
                    total_messages: ch.total_messages,
                    last_message_at: ch.last_message_at,
                    last_message_id: ch.last_message_id.0,
                    kind: ch.kind.clone(),
                    parent_stream_id: ch.parent_stream_id.map(|p| p.0),
                    branched_from_event_id: ch.branched_from_event_id.map(|e| e.0),
                    title: ch.title.clone(),
                    status: ch.status.clone(),
                    private: ch.private,
                })
                .collect(),
            users: c
                .users
                .iter()
                .map(|u| WireUser {
                    id: u.id.0,
                    username: u.username.clone(),
                    display_name: u.display_name.clone(),
                    total_messages: u.total_messages,
                    first_seen_at: u.first_seen_at,
                    last_seen_at: u.last_seen_at,
                    last_message_at: u.last_message_at,
                    last_message_id: u.last_message_id.0,
                })
                .collect(),
            totals: [
                c.totals.total_messages,
                c.totals.total_channels,
                c.totals.total_users,
                c.totals.cursor.0,
            ],
            badges: c.badges.clone(),
            inbox: c.inbox.clone(),
            removed: c.removed.clone(),
            polls: c.polls.clone(),
        }
    }
}

impl From<Payload> for Committed {
    fn from(p: Payload) -> Self {
        let [total_messages, total_channels, total_users, cursor] = p.totals;
        Committed {
            messages: p
                .messages
                .into_iter()
                .map(|m| Message {
                    id: MessageId(m.id),
                    channel_id: ChannelId(m.channel_id),
                    channel: m.channel,
                    user_id: UserId(m.user_id),
                    user: m.user,
                    display_name: m.display_name,
                    text: m.text,
                    sent_at: m.sent_at,
                    tags: m.tags,
                    kind: m.kind,
                    event_id: m.event_id,
                    payload: m.payload,
                    target_id: m.target_id.map(MessageId),
                    edited_at: m.edited_at,
                    deleted: m.deleted,
                    private: m.private,
                })
                .collect(),
            channels: p
                .channels
                .into_iter()
                .map(|c| Channel {
                    id: ChannelId(c.id),
                    name: c.name,
                    total_messages: c.total_messages,
                    last_message_at: c.last_message_at,
                    last_message_id: MessageId(c.last_message_id),
                    kind: c.kind,
                    parent_stream_id: c.parent_stream_id.map(ChannelId),
                    branched_from_event_id: c.branched_from_event_id.map(MessageId),
                    title: c.title,
                    status: c.status,
                    private: c.private,
                })
                .collect(),
            users: p
                .users
                .into_iter()
                .map(|u| User {
                    id: UserId(u.id),
                    username: u.username,
                    display_name: u.display_name,
                    total_messages: u.total_messages,
                    first_seen_at: u.first_seen_at,
                    last_seen_at: u.last_seen_at,
                    last_message_at: u.last_message_at,
                    last_message_id: MessageId(u.last_message_id),
                })
                .collect(),
            totals: Totals {
                total_messages,
                total_channels,
                total_users,
                cursor: MessageId(cursor),
            },
            badges: p.badges,
            inbox: p.inbox,
            removed: p.removed,
            polls: p.polls,
        }
    }
}
