//! What the templates see: one view model per kind of row, with its numbers and times
//! already formatted the way the script formats them.
use serde::Serialize;

use super::format::{group, short_time};
use crate::store::{Channel, Cursor, Message, MessageId, User};
use crate::time::format_ms;

#[derive(Serialize)]
pub struct Part {
    pub text: String,
    pub mark: bool,
}

#[derive(Serialize)]
pub struct MessageView {
    pub id: MessageId,
    pub channel: String,
    pub user: String,
    pub name: String,
    pub text: String,
    pub sent_at: String,
    pub time: String,
    /// The text split at search matches, for `<mark>`; absent outside search.
    pub parts: Option<Vec<Part>>,
}

impl MessageView {
    pub fn blank() -> Self {
        MessageView {
            id: MessageId::default(),
            channel: String::new(),
            user: String::new(),
            name: String::new(),
            text: String::new(),
            sent_at: String::new(),
            time: String::new(),
            parts: None,
        }
    }
    pub fn new(m: Message) -> Self {
        MessageView {
            id: m.id,
            name: m.display_name.clone().unwrap_or_else(|| m.user.clone()),
            channel: m.channel,
            user: m.user,
            sent_at: format_ms(m.sent_at),
            time: short_time(m.sent_at),
            text: m.text,
            parts: None,
        }
    }
}

#[derive(Serialize)]
pub struct CountRow {
    pub name: String,
    pub label: String,
    pub total: String,
    pub total_n: i64,
    pub last_at: Option<String>,
    pub last: String,
    pub cursor: Cursor,
}

impl CountRow {
    pub fn blank() -> Self {
        CountRow {
            name: String::new(),
            label: String::new(),
            total: "0".into(),
            total_n: 0,
            last_at: None,
            last: "—".into(),
            cursor: Cursor::default(),
        }
    }
    pub fn channel(c: &Channel) -> Self {
        CountRow {
            name: c.name.clone(),
            label: c.name.clone(),
            total: group(c.total_messages),
            total_n: c.total_messages,
            last_at: c.last_message_at.map(format_ms),
            last: c.last_message_at.map_or_else(|| "—".into(), short_time),
            cursor: c.last_message_id,
        }
    }
    pub fn user(u: &User) -> Self {
        CountRow {
            name: u.username.clone(),
            label: u.display_name.clone().unwrap_or_else(|| u.username.clone()),
            total: group(u.total_messages),
            total_n: u.total_messages,
            last_at: u.last_seen_at.map(format_ms),
            last: u.last_seen_at.map_or_else(|| "—".into(), short_time),
            cursor: u.last_message_id,
        }
    }
}

/// One channel of a profile and the user's messages in it.
#[derive(Serialize)]
pub struct ChannelCount {
    pub name: String,
    pub total: String,
    pub total_n: i64,
}

impl ChannelCount {
    pub fn blank() -> Self {
        ChannelCount {
            name: String::new(),
            total: "0".into(),
            total_n: 0,
        }
    }
}
