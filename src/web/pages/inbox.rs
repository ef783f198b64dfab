//! A signed-in person's side of the pages: their inbox (`/inbox`: their streams grouped by
//! kind with unread and mention badges, and their mentions) and what a stream's page
//! needs to know about its reader (the composer, marking it read). `views/static/inbox.js`
//! keeps the inbox live and words new rows the same way.
use std::collections::HashMap;

use serde::Serialize;

use super::format::{group, short_time, stream_href, stream_label};
use super::views::heading;
use crate::store::people::Membership;
use crate::store::streams::Stream;
use crate::store::{ChannelId, Cursor, StreamKind, StreamStatus};
use crate::time::format_ms;
use crate::web::streams::Notification;

/// The inbox's groups, in the order the page shows them: key, heading.
pub const GROUPS: [(&str, &str); 5] = [
    ("channel", "Channels"),
    ("private", "Private channels"),
    ("incident", "Incidents"),
    ("thread", "Threads"),
    ("dm", "Direct messages"),
];

/// Which group a stream is listed in (the script's `groupOf` is the same).
pub fn group_of(s: &Stream) -> &'static str {
    match s.kind() {
        StreamKind::Channel if s.private => "private",
        StreamKind::Channel => "channel",
        StreamKind::Incident => "incident",
        StreamKind::Thread => "thread",
        StreamKind::Dm => "dm",
    }
}

/// A DM as its reader names it: the others in it ("alice, bob" read by bob is "alice").
/// `names` is the DM's name, its people sorted and joined by ", ".
pub fn dm_label(names: &str, me: &str) -> String {
    let others: Vec<&str> = names.split(", ").filter(|n| *n != me).collect();
    if others.is_empty() {
        names.to_owned()
    } else {
        others.join(", ")
    }
}

/// How the inbox names a stream: a channel `#slug`, an incident its name, a DM its other
/// people, a thread its name or where it branched from ("Thread in #engineering").
fn label(s: &Stream, me: &str, parents: &HashMap<ChannelId, String>) -> String {
    match (s.kind(), s.display_name()) {
        (StreamKind::Dm, Some(names)) => dm_label(names, me),
        (StreamKind::Thread, None) => match s.parent_stream_id.and_then(|p| parents.get(&p)) {
            Some(parent) => format!("Thread in {parent}"),
            None => stream_label(s.kind(), None, s.id),
        },
        (kind, name) => heading(kind.as_str(), name),
    }
}

/// One of the person's streams, with their badge.
#[derive(Serialize)]
pub struct InboxRow {
    pub id: ChannelId,
    pub kind: &'static str,
    pub label: String,
    pub href: String,
    pub private: bool,
    pub status: &'static str,
    pub unread: i64,
    pub unread_fmt: String,
    pub mentions: i64,
    pub mentions_fmt: String,
    pub last_at: Option<String>,
    pub last: String,
    /// The newest message's time in ms (0: none), what the rows are sorted by.
    pub activity: i64,
    /// The cursor of the stream's state (as its `stream_updated` carries it).
    pub state_cursor: Cursor,
}

impl InboxRow {
    pub fn blank() -> Self {
        InboxRow {
            id: ChannelId::default(),
            kind: "",
            label: String::new(),
            href: String::new(),
            private: false,
            status: "active",
            unread: 0,
            unread_fmt: "0".into(),
            mentions: 0,
            mentions_fmt: "0".into(),
            last_at: None,
            last: "—".into(),
            activity: 0,
            state_cursor: Cursor::default(),
        }
    }
}

/// A group of rows, shown only when it has some (the script shows it when one arrives).
#[derive(Serialize)]
pub struct InboxGroup {
    pub key: &'static str,
    pub title: &'static str,
    pub rows: Vec<InboxRow>,
}

/// The person's streams (archived ones left out) in their groups, each newest activity
/// first, and how the inbox names every stream it lists (for the notifications).
pub fn groups(memberships: &[Membership], me: &str) -> (Vec<InboxGroup>, HashMap<ChannelId, String>) {
    // Threads are named by their parent: every stream's plain label first.
    let plain: HashMap<ChannelId, String> = memberships
        .iter()
        .map(|m| (m.stream.id, label(&m.stream, me, &HashMap::new())))
        .collect();
    let mut out: Vec<InboxGroup> = GROUPS
        .iter()
        .map(|(key, title)| InboxGroup {
            key,
            title,
            rows: Vec::new(),
        })
        .collect();
    let mut labels = HashMap::new();
    for m in memberships {
        let s = &m.stream;
        let label = label(s, me, &plain);
        labels.insert(s.id, label.clone());
        if s.status() == StreamStatus::Archived {
            continue;
        }
        let row = InboxRow {
            id: s.id,
            kind: s.kind().as_str(),
            href: stream_href(s.id),
            private: s.private,
            status: s.status().as_str(),
            unread: m.unread_count,
            unread_fmt: group(m.unread_count),
            mentions: m.mention_count,
            mentions_fmt: group(m.mention_count),
            last_at: s.last_message_at.map(format_ms),
            last: s.last_message_at.map_or_else(|| "—".into(), short_time),
            activity: s.last_message_at.unwrap_or(0),
            state_cursor: s.last_message_id,
            label,
        };
        let g = group_of(s);
        if let Some(g) = out.iter_mut().find(|x| x.key == g) {
            g.rows.push(row);
        }
    }
    for g in &mut out {
        g.rows
            .sort_by(|a, b| b.activity.cmp(&a.activity).then(b.id.0.cmp(&a.id.0)));
    }
    (out, labels)
}

/// One mention of the person.
#[derive(Serialize)]
pub struct NoteView {
    pub cursor: Cursor,
    pub stream_id: ChannelId,
    /// The message in its stream's page.
    pub href: String,
    pub stream: String,
    pub actor: String,
    /// The message's text now (`None` once deleted).
    pub text: Option<String>,
    pub created_at: String,
    pub time: String,
}

impl NoteView {
    pub fn blank() -> Self {
        NoteView {
            cursor: Cursor::default(),
            stream_id: ChannelId::default(),
            href: String::new(),
            stream: String::new(),
            actor: String::new(),
            text: Some(String::new()),
            created_at: String::new(),
            time: String::new(),
        }
    }

    /// `labels` names the person's streams; another (a public stream they did not join) is
    /// named `other`'s way.
    pub fn new(n: &Notification, labels: &HashMap<ChannelId, String>, other: Option<&Stream>) -> Self {
        let stream = labels.get(&n.stream_id).cloned().unwrap_or_else(|| match other {
            Some(s) => heading(s.kind().as_str(), s.display_name()),
            None => n.stream.clone().unwrap_or_else(|| format!("stream {}", n.stream_id)),
        });
        let e = &n.event;
        NoteView {
            cursor: n.cursor,
            stream_id: n.stream_id,
            href: format!("{}#e{}", stream_href(n.stream_id), e.event_id),
            stream,
            actor: e.actor.clone(),
            text: e.text.clone().filter(|_| e.deleted != Some(true)),
            created_at: format_ms(e.created_at),
            time: short_time(e.created_at),
        }
    }
}

/// What a stream's page knows about its reader.
#[derive(Serialize)]
pub struct ReaderView {
    /// A member: opening the page marks it read.
    pub member: bool,
    /// Their read cursor, and the unread messages after it, when the page was read.
    pub last_read: i64,
    pub unread: i64,
    /// Whether the composer is shown: signed in, and the stream takes messages.
    pub can_post: bool,
    pub archived: bool,
    /// The sign-in page, back to this one.
    pub signin: String,
}

#[cfg(test)]
mod tests {
    use super::dm_label;

    #[test]
    fn a_dm_is_named_by_the_others_in_it() {
        assert_eq!(dm_label("alice, bob", "bob"), "alice");
        assert_eq!(dm_label("alice, bob, carol", "bob"), "alice, carol");
        assert_eq!(dm_label("alice, bob", "dave"), "alice, bob");
    }
}
