//! Live top lists (issue 16): the channels and users with the most messages over a window,
//! kept by the window's room and pushed whole when they change, merged on the room's tick
//! like counts. A page with a top ten never receives the whole channel or user list.
//!
//! A [`Tally`] holds every entity's messages in its window, in memory: it is read from the
//! per-minute rollups once when its room starts, follows every commit from then on, and
//! each minute takes out the minutes that left the window, read from the rollups again.
//! Both reads are made in a snapshot that names its cursor, so the tally knows which
//! commits a read already holds: a commit at or below the start read's cursor is in it;
//! one whose minute has just left the window counts only if the read that took the minute
//! out held it (its cursor is at or below that read's), so it is added back before the
//! subtraction it was part of is undone by nothing. The room holds back commits while a
//! read is under way and applies them, in order, after it.
use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;

use crate::domain::Window;
use crate::store::top::{is_public_channel, Counted, Counts};
use crate::store::{Committed, Cursor, EventType};
use crate::time::serialize_ms;

/// Entries in each top list (PROTOCOL.md section 4, the `top` views).
pub const TOP_N: usize = 10;

/// Expiry reads remembered, so a commit that a read held but the room had not applied yet
/// (it was on its way) is still counted, then taken out: a commit is never that late.
const EXPIRIES_KEPT: usize = 16;

/// Whose top lists a `top` view shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopScope {
    /// The top channels and the top users of everything.
    All,
    /// A channel's top users.
    Channel(String),
    /// A user's top channels.
    User(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TopEntry {
    pub name: String,
    /// Messages in the window (live ones: a deleted message is taken out).
    pub messages: i64,
    /// `messages` over the window's minutes.
    pub per_minute: f64,
}

/// A `top` envelope, and what `GET /api/top` answers: a whole list, newest state.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TopList {
    /// Always `top`.
    pub r#type: &'static str,
    pub window: Window,
    /// A channel's top users: its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// A user's top channels: their name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The window's first minute: the counts are of messages dated from it on.
    #[serde(serialize_with = "serialize_ms")]
    #[schema(schema_with = crate::json_schema::time)]
    pub since: i64,
    /// Public channels only, most messages first (then by name); at most [`TOP_N`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<TopEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<TopEntry>>,
    /// The newest commit the counts hold.
    pub cursor: Cursor,
}

/// One side of a tally: channels or users, by id.
#[derive(Default)]
struct Side {
    counts: HashMap<i64, (String, i64)>,
    /// The top entries as last worked out, best first: `(messages, name, id)`.
    top: Vec<(i64, String, i64)>,
    /// Entities that gained since `top` was worked out.
    gained: HashSet<i64>,
    /// Whether any lost (a delete, minutes leaving the window): then every entity is looked at.
    lost: bool,
}

impl Side {
    fn load(rows: Vec<Counted>) -> Side {
        let mut side = Side {
            counts: rows.into_iter().map(|c| (c.id, (c.name, c.messages))).collect(),
            lost: true,
            ..Default::default()
        };
        side.refresh();
        side
    }

    fn add(&mut self, id: i64, name: &str, n: i64) {
        let entry = self.counts.entry(id).or_insert_with(|| (name.to_owned(), 0));
        entry.1 += n;
        if entry.1 <= 0 {
            self.counts.remove(&id);
        }
        if n > 0 {
            self.gained.insert(id);
        } else {
            self.lost = true;
        }
    }

    /// Works the top entries out again; whether they changed.
    fn refresh(&mut self) -> bool {
        if !self.lost && self.gained.is_empty() {
            return false;
        }
        // Only gains: an entity that did not gain cannot pass one that was above it, so
        // the new top is among the old top and those that gained.
        let candidates: Vec<i64> = if self.lost {
            self.counts.keys().copied().collect()
        } else {
            self.top
                .iter()
                .map(|(_, _, id)| *id)
                .chain(self.gained.iter().copied())
                .collect()
        };
        let mut top: Vec<(i64, String, i64)> = candidates
            .into_iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .filter_map(|id| self.counts.get(&id).map(|(name, n)| (*n, name.clone(), id)))
            .collect();
        let order = |a: &(i64, String, i64), b: &(i64, String, i64)| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1));
        if top.len() > TOP_N {
            top.select_nth_unstable_by(TOP_N - 1, order);
            top.truncate(TOP_N);
        }
        top.sort_by(order);
        self.gained.clear();
        self.lost = false;
        let changed = top != self.top;
        self.top = top;
        changed
    }

    fn entries(&self, minutes: i64) -> Vec<TopEntry> {
        self.top
            .iter()
            .map(|(n, name, _)| TopEntry {
                name: name.clone(),
                messages: *n,
                per_minute: *n as f64 / minutes as f64,
            })
            .collect()
    }
}

/// A window's counts for one scope, following commits (see the module's notes).
pub struct Tally {
    window: Window,
    scope: TopScope,
    /// The window's first minute.
    start: i64,
    channels: Side,
    users: Side,
    /// The cursor of the start read: commits at or below it are in the counts.
    loaded: Cursor,
    /// Recent expiry reads: minutes `from..to` taken out as of cursor `at`.
    expiries: VecDeque<(i64, i64, Cursor)>,
    /// The newest commit applied (or read).
    cursor: Cursor,
}

impl Tally {
    /// A tally of `counts`, read for the window starting at minute `start`.
    pub fn new(window: Window, scope: TopScope, start: i64, counts: Counts) -> Tally {
        Tally {
            window,
            scope,
            start,
            channels: Side::load(counts.channels),
            users: Side::load(counts.users),
            loaded: counts.cursor,
            expiries: VecDeque::new(),
            cursor: counts.cursor,
        }
    }

    /// The window's first minute.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// Whether a row at `cursor` dated in `minute` changes the counts.
    fn counts(&self, cursor: Cursor, minute: i64) -> bool {
        cursor > self.loaded
            && (minute >= self.start
                || self
                    .expiries
                    .iter()
                    .any(|(from, to, at)| (*from..*to).contains(&minute) && cursor <= *at))
    }

    /// Adds `n` messages of `user` in `channel` where the scope counts them.
    fn add(&mut self, channel: (i64, &str, bool), user: (i64, &str), n: i64) {
        let (channel_id, channel_key, private) = channel;
        let channels_too = is_public_channel(channel_key, private);
        match &self.scope {
            TopScope::All => {
                if channels_too {
                    self.channels.add(channel_id, channel_key, n);
                }
                self.users.add(user.0, user.1, n);
            }
            TopScope::Channel(name) if name == channel_key => self.users.add(user.0, user.1, n),
            TopScope::User(name) if name == user.1 && channels_too => self.channels.add(channel_id, channel_key, n),
            _ => {}
        }
    }

    /// Follows a commit: its public messages count, what its deletes took out does not.
    pub fn apply(&mut self, c: &Committed) {
        for m in &c.messages {
            self.cursor = self.cursor.max(m.id);
            let minute = crate::store::minutes::minute_of(m.sent_at);
            // `kind` compared as it is stored: this runs for every row of every commit.
            if m.kind == EventType::Message.as_str() && !m.private && self.counts(m.id, minute) {
                self.add((m.channel_id.0, &m.channel, m.private), (m.user_id.0, &m.user), 1);
            }
        }
        for r in &c.removed {
            if self.counts(r.cursor, crate::store::minutes::minute_of(r.sent_at)) {
                self.add((r.channel_id.0, &r.channel, false), (r.user_id.0, &r.user), -1);
            }
        }
    }

    /// Takes out `gone`, the counts of minutes `self.start..to` as of `gone.cursor`, and
    /// starts the window at `to`.
    pub fn expire(&mut self, to: i64, gone: Counts) {
        for c in gone.channels {
            self.channels.add(c.id, &c.name, -c.messages);
        }
        for u in gone.users {
            self.users.add(u.id, &u.name, -u.messages);
        }
        self.expiries.push_back((self.start, to, gone.cursor));
        if self.expiries.len() > EXPIRIES_KEPT {
            self.expiries.pop_front();
        }
        self.cursor = self.cursor.max(gone.cursor);
        self.start = to;
    }

    /// Works the lists out again; whether they changed since last time.
    pub fn refresh(&mut self) -> bool {
        // Both sides, always: `|` does not stop at the first.
        self.channels.refresh() | self.users.refresh()
    }

    /// The lists as last [refreshed](Tally::refresh).
    pub fn list(&self) -> TopList {
        let minutes = self.window.minutes();
        let (channels, users) = match self.scope {
            TopScope::All => (true, true),
            TopScope::Channel(_) => (false, true),
            TopScope::User(_) => (true, false),
        };
        TopList {
            r#type: "top",
            window: self.window,
            channel: match &self.scope {
                TopScope::Channel(n) => Some(n.clone()),
                _ => None,
            },
            user: match &self.scope {
                TopScope::User(n) => Some(n.clone()),
                _ => None,
            },
            since: self.start * 60_000,
            channels: channels.then(|| self.channels.entries(minutes)),
            users: users.then(|| self.users.entries(minutes)),
            cursor: self.cursor,
        }
    }
}

/// The first minute of `window` at `now_ms`: as `GET /api/activity` counts it (the minute
/// `window` ago, whole, up to the current one).
pub fn window_start(window: Window, now_ms: i64) -> i64 {
    crate::store::minutes::minute_of(now_ms) - window.minutes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::top::Removed;
    use crate::store::{ChannelId, Message, MessageId, UserId};

    /// Message `id` of user `user` (named `u<user>`) in channel `channel`, dated in `minute`.
    fn message(id: i64, channel: &str, user: i64, minute: i64) -> Message {
        Message {
            id: MessageId(id),
            channel_id: ChannelId(channel.len() as i64),
            channel: channel.into(),
            user_id: UserId(user),
            user: format!("u{user:02}"),
            display_name: None,
            text: String::new(),
            sent_at: minute * 60_000 + 5,
            tags: None,
            kind: "message".into(),
            event_id: None,
            payload: None,
            target_id: None,
            edited_at: None,
            deleted: false,
            private: false,
        }
    }

    fn commit(messages: Vec<Message>) -> Committed {
        Committed {
            messages,
            ..Default::default()
        }
    }

    fn user_counts(rows: &[(i64, i64)], cursor: i64) -> Counts {
        Counts {
            users: rows
                .iter()
                .map(|(id, n)| Counted {
                    id: *id,
                    name: format!("u{id:02}"),
                    messages: *n,
                })
                .collect(),
            cursor: MessageId(cursor),
            ..Default::default()
        }
    }

    fn users(t: &mut Tally) -> Vec<(String, i64)> {
        t.refresh();
        t.list()
            .users
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.messages))
            .collect()
    }

    fn one(name: &str, n: i64) -> Vec<(String, i64)> {
        vec![(name.to_owned(), n)]
    }

    #[test]
    fn commits_read_already_are_not_counted_twice() {
        let mut t = Tally::new(Window::FiveMinutes, TopScope::All, 100, user_counts(&[(1, 3)], 10));
        t.apply(&commit(vec![message(9, "c", 1, 101), message(11, "c", 1, 101)]));
        assert_eq!(users(&mut t), one("u01", 4));
        // Dated before the window: not counted.
        t.apply(&commit(vec![message(12, "c", 2, 99)]));
        assert_eq!(users(&mut t), one("u01", 4));
    }

    #[test]
    fn an_expiry_read_holds_commits_still_on_their_way() {
        let mut t = Tally::new(Window::FiveMinutes, TopScope::All, 100, Counts::default());
        t.apply(&commit(vec![message(1, "c", 1, 100), message(2, "c", 1, 101)]));
        assert_eq!(users(&mut t), one("u01", 2));
        // Minute 100 leaves as of cursor 3: the read saw messages 1 and 3 (3 is on its way).
        t.expire(101, user_counts(&[(1, 2)], 3));
        assert_eq!(users(&mut t), Vec::new());
        // Message 3 arrives: the read took it out, so it is added back; 4 came after it.
        t.apply(&commit(vec![message(3, "c", 1, 100), message(4, "c", 1, 100)]));
        assert_eq!(users(&mut t), one("u01", 1));
        // A delete of message 2 (minute 101, in the window) takes it out.
        let mut c = commit(vec![]);
        c.removed.push(Removed {
            cursor: MessageId(5),
            channel_id: ChannelId(1),
            channel: "c".into(),
            user_id: UserId(1),
            user: "u01".into(),
            sent_at: 101 * 60_000,
        });
        t.apply(&c);
        assert_eq!(users(&mut t), Vec::new());
    }

    #[test]
    fn the_top_is_the_n_largest_by_name_on_ties_and_only_they() {
        let rows: Vec<(i64, i64)> = (0..25).map(|i| (i, 1 + i % 5)).collect();
        let mut t = Tally::new(Window::Hour, TopScope::All, 0, user_counts(&rows, 0));
        let top = users(&mut t);
        assert_eq!(top.len(), TOP_N);
        assert_eq!(top[0], ("u04".to_owned(), 5));
        assert_eq!(top[4], ("u24".to_owned(), 5));
        assert_eq!(top[5], ("u03".to_owned(), 4));
        assert_eq!(top[9], ("u23".to_owned(), 4));
        // Only gains: an outsider that passes the tenth comes in, the tenth goes.
        t.apply(&commit((1..=5).map(|id| message(id, "c", 0, 1)).collect()));
        assert!(t.refresh());
        let top = t.list().users.unwrap();
        assert_eq!((top[0].name.as_str(), top[0].messages), ("u00", 6));
        assert!(top.iter().all(|e| e.name != "u23"));
        assert!(!t.refresh(), "nothing changed since");
        // A loss looks at everyone: the eleventh comes back in.
        t.expire(1, user_counts(&[(0, 6)], 5));
        let top = users(&mut t);
        assert_eq!(top[9], ("u23".to_owned(), 4));
        // Threads, incidents and private streams are no channels.
        let mut t = Tally::new(Window::Hour, TopScope::All, 0, Counts::default());
        let mut private = message(3, "secret", 1, 1);
        private.private = true;
        t.apply(&commit(vec![message(1, "~7", 1, 1), message(2, "rust", 1, 1), private]));
        t.refresh();
        let channels: Vec<String> = t.list().channels.unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(channels, ["rust"]);
        assert_eq!(users(&mut t), one("u01", 2));
    }
}
