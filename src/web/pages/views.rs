//! What the templates see: one view model per kind of row, with its numbers and times
//! already formatted the way the script formats them.
use std::collections::HashMap;

use serde::Serialize;

use super::format::{count_of, file_size, group, rate, share, short_time, stream_href, stream_label};
use crate::domain::Window;
use crate::live::top::{TopEntry, TopList, TOP_N};
use crate::store::streams::{EventObject, FileObject, PollObject, Stream};
use crate::store::{Channel, ChannelId, Cursor, Message, MessageId, User};
use crate::time::format_ms;

#[derive(Serialize)]
pub struct Part {
    pub text: String,
    pub mark: bool,
}

/// How the streams that are not channels read where a v1 row names them by their key
/// (`~<id>`): by that key, the stream's label ("Checkout Outage", "thread 7").
pub type StreamLabels = HashMap<String, String>;

/// Where a v1 row's channel links, and how it reads: a channel's page, or the stream page
/// of a thread or incident (whose v1 name is its key, `~<id>`).
fn channel_link(channel: &str, labels: &StreamLabels) -> (String, String, Option<String>) {
    match channel.strip_prefix('~') {
        Some(id) => (
            format!("/streams/{id}"),
            labels.get(channel).cloned().unwrap_or_else(|| format!("stream {id}")),
            Some(id.to_owned()),
        ),
        None => (format!("/channels/{channel}"), format!("#{channel}"), None),
    }
}

#[derive(Serialize)]
pub struct MessageView {
    pub id: MessageId,
    pub channel: String,
    /// The channel's page, or a thread's or incident's stream page.
    pub channel_href: String,
    pub channel_label: String,
    /// The stream id when the channel is a thread or incident (`~<id>`).
    pub stream: Option<String>,
    pub user: String,
    pub name: String,
    pub text: String,
    pub sent_at: String,
    pub time: String,
    /// When it was last edited, if it was.
    pub edited_at: Option<String>,
    /// The text split at search matches, for `<mark>`; absent outside search.
    pub parts: Option<Vec<Part>>,
}

impl MessageView {
    pub fn blank() -> Self {
        MessageView {
            id: MessageId::default(),
            channel: String::new(),
            channel_href: String::new(),
            channel_label: String::new(),
            stream: None,
            user: String::new(),
            name: String::new(),
            text: String::new(),
            sent_at: String::new(),
            time: String::new(),
            edited_at: None,
            parts: None,
        }
    }
    pub fn new(m: Message, labels: &StreamLabels) -> Self {
        let (channel_href, channel_label, stream) = channel_link(&m.channel, labels);
        MessageView {
            id: m.id,
            name: m.display_name.clone().unwrap_or_else(|| m.user.clone()),
            channel: m.channel,
            channel_href,
            channel_label,
            stream,
            user: m.user,
            sent_at: format_ms(m.sent_at),
            time: short_time(m.sent_at),
            edited_at: m.edited_at.map(format_ms),
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
    /// A channel's stream id, for the link to its event log.
    pub stream_id: Option<ChannelId>,
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
            stream_id: None,
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
            stream_id: Some(c.id),
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
            stream_id: None,
        }
    }
}

/// One channel of a profile and the user's messages in it.
#[derive(Serialize)]
pub struct ChannelCount {
    pub name: String,
    pub href: String,
    pub label: String,
    pub total: String,
    pub total_n: i64,
}

impl ChannelCount {
    pub fn blank() -> Self {
        ChannelCount {
            name: String::new(),
            href: String::new(),
            label: String::new(),
            total: "0".into(),
            total_n: 0,
        }
    }
    pub fn new(name: String, n: i64, labels: &StreamLabels) -> Self {
        let (href, label, _) = channel_link(&name, labels);
        ChannelCount {
            name,
            href,
            label,
            total: group(n),
            total_n: n,
        }
    }
}

/// A piece of a sentence, a link when it has a target.
#[derive(Serialize)]
pub struct Phrase {
    pub text: String,
    pub href: Option<String>,
}

impl Phrase {
    fn text(t: impl Into<String>) -> Self {
        Phrase {
            text: t.into(),
            href: None,
        }
    }
    fn link(t: impl Into<String>, href: impl Into<String>) -> Self {
        Phrase {
            text: t.into(),
            href: Some(href.into()),
        }
    }
    fn user(name: &str) -> Self {
        Phrase::link(name, format!("/users/{name}"))
    }
}

/// The thread branched from a message.
#[derive(Serialize)]
pub struct ThreadView {
    pub id: ChannelId,
    pub replies: i64,
    pub label: String,
}

/// Replies as the toggle reads them (the script words them the same).
pub fn replies_label(n: i64) -> String {
    match n {
        0 => "No replies yet".into(),
        1 => "1 reply".into(),
        n => format!("{} replies", group(n)),
    }
}

/// A shared event's original.
#[derive(Serialize)]
pub struct OriginalView {
    pub event_id: MessageId,
    pub stream_id: ChannelId,
    pub href: String,
    /// The original's stream as people read it.
    pub stream: String,
    pub deleted: bool,
}

/// What a stream page knows of a poll beyond its event: the cursor of its tally, and the
/// reader's own vote.
pub struct PollReader {
    /// The cursor of the tally read (a `poll_tally` envelope with a newer one replaces it).
    pub cursor: Cursor,
    /// The reader's choice (empty: no vote); `None` when not read (anonymous).
    pub mine: Option<Vec<usize>>,
    /// The reader may vote and close here (signed in, and the stream takes posts).
    pub can_post: bool,
    /// The reader may close others' polls: an owner of the stream, or an admin.
    pub manager: bool,
    pub me: Option<String>,
}

impl PollReader {
    /// No reader, no tally: the `<template>` row, and polls the page knows nothing more of.
    pub fn none() -> Self {
        PollReader {
            cursor: Cursor::default(),
            mine: None,
            can_post: false,
            manager: false,
            me: None,
        }
    }
}

/// A poll as its row shows it (`views/static/streams.js`, `drawPoll`, draws the same).
#[derive(Serialize)]
pub struct PollRowView {
    pub question: String,
    pub multiple: bool,
    pub options: Vec<PollOptionView>,
    pub voters: i64,
    /// "No votes yet", "1 voter", "1,204 voters".
    pub voters_label: String,
    /// When it stops taking votes (RFC 3339), and as the time rule writes it.
    pub closes_at: Option<String>,
    pub closes: Option<String>,
    pub closed_at: Option<String>,
    pub closed: Option<String>,
    /// It takes no votes: closed, or past its closing time, when the page was read.
    pub is_closed: bool,
    /// The cursor of the tally shown.
    pub cursor: Cursor,
    /// The reader's choice is known (`mine`, indexes joined by commas, empty for none).
    pub known: bool,
    pub mine: String,
    pub voted: bool,
    /// The vote control is shown, and the close button.
    pub can_vote: bool,
    pub can_close: bool,
}

/// One option of a poll: its votes, their share of the voters (also the bar's width),
/// whether the reader chose it and whether it leads.
#[derive(Serialize)]
pub struct PollOptionView {
    pub index: usize,
    pub label: String,
    pub count: i64,
    pub count_fmt: String,
    pub share: String,
    pub mine: bool,
    pub top: bool,
}

impl PollOptionView {
    /// An empty option, for the `<template>` the script clones.
    pub fn blank() -> Self {
        PollOptionView {
            index: 0,
            label: String::new(),
            count: 0,
            count_fmt: "0".into(),
            share: "0%".into(),
            mine: false,
            top: false,
        }
    }
}

/// "No votes yet", "1 voter", "12 voters" (the script's `votersLabel`).
pub fn voters_label(n: i64) -> String {
    if n == 0 {
        "No votes yet".into()
    } else {
        count_of(n, "voter", "voters")
    }
}

impl PollRowView {
    fn new(p: &PollObject, actor: &str, r: &PollReader, now: i64) -> Self {
        let is_closed = p.closed_at.is_some() || p.closes_at.is_some_and(|at| at <= now);
        let mine = r.mine.clone().unwrap_or_default();
        let most = p.counts.iter().copied().max().unwrap_or(0);
        let options = p
            .options
            .iter()
            .enumerate()
            .map(|(index, label)| {
                let count = p.counts.get(index).copied().unwrap_or(0);
                PollOptionView {
                    index,
                    label: label.clone(),
                    count,
                    count_fmt: group(count),
                    share: share(count, p.voters),
                    mine: mine.contains(&index),
                    top: count > 0 && count == most,
                }
            })
            .collect();
        let can_vote = r.can_post && !is_closed;
        PollRowView {
            question: p.question.clone(),
            multiple: p.multiple,
            options,
            voters: p.voters,
            voters_label: voters_label(p.voters),
            closes_at: p.closes_at.map(format_ms),
            closes: p.closes_at.map(short_time),
            closed_at: p.closed_at.map(format_ms),
            closed: p.closed_at.map(short_time),
            is_closed,
            cursor: r.cursor,
            known: r.mine.is_some(),
            mine: mine.iter().map(usize::to_string).collect::<Vec<_>>().join(","),
            voted: !mine.is_empty(),
            can_vote,
            can_close: can_vote && (r.manager || r.me.as_deref() == Some(actor)),
        }
    }
}

/// A poll of no options, for the `<template>` row the script fills.
fn blank_poll() -> PollObject {
    PollObject {
        question: String::new(),
        options: Vec::new(),
        multiple: false,
        counts: Vec::new(),
        voters: 0,
        closes_at: None,
        closed_at: None,
    }
}

/// The raster images a page previews in place, as the download allows them
/// (`src/web/files.rs`); any other type is a download link only.
pub const PREVIEW_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A file as its row shows it.
#[derive(Serialize)]
pub struct FileRowView {
    pub name: String,
    /// "4.5 KB".
    pub size: String,
    pub size_n: i64,
    pub content_type: String,
    /// The download (an attachment), and the same shown in place for a preview.
    pub url: String,
    pub inline_url: String,
    /// A raster image: previewed.
    pub image: bool,
    /// The name's extension as its badge reads it ("PNG", "LOG"), "FILE" without one.
    pub ext: String,
}

/// A file name's badge: its extension, upper case, at most 4 characters; "FILE" without one.
pub fn file_ext(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && !ext.is_empty()
                && ext.chars().count() <= 4
                && ext.chars().all(char::is_alphanumeric) =>
        {
            ext.to_uppercase()
        }
        _ => "FILE".into(),
    }
}

impl FileRowView {
    fn new(f: &FileObject) -> Self {
        FileRowView {
            name: f.name.clone(),
            size: file_size(f.size),
            size_n: f.size,
            content_type: f.content_type.clone(),
            inline_url: format!("{}?inline=true", f.url),
            url: f.url.clone(),
            image: PREVIEW_TYPES.contains(&f.content_type.as_str()),
            ext: file_ext(&f.name),
        }
    }

    fn blank() -> Self {
        FileRowView {
            name: String::new(),
            size: String::new(),
            size_n: 0,
            content_type: String::new(),
            url: String::new(),
            inline_url: String::new(),
            image: false,
            ext: String::new(),
        }
    }
}

/// One event of a stream's log as the stream page shows it. Edits and deletes are not
/// rows: they show on the message they changed.
#[derive(Serialize)]
pub struct EventView {
    pub id: MessageId,
    /// Which markup it gets: `message`, `shared`, `poll`, `file` or `system` (every other
    /// type).
    pub shape: &'static str,
    pub event_type: String,
    pub actor: String,
    pub created_at: String,
    pub time: String,
    pub text: Option<String>,
    pub deleted: bool,
    pub edited_at: Option<String>,
    pub thread: Option<ThreadView>,
    pub context: Option<String>,
    pub original: Option<OriginalView>,
    /// A system event's sentence; empty for the other shapes.
    pub line: Vec<Phrase>,
    /// A poll's question, options and tally (absent once deleted).
    pub poll: Option<PollRowView>,
    /// A file's name, size, type and links (absent once deleted).
    pub file: Option<FileRowView>,
}

impl EventView {
    /// An empty row of `shape`, for the `<template>` the script clones.
    pub fn blank(shape: &'static str) -> Self {
        EventView {
            id: MessageId::default(),
            shape,
            event_type: String::new(),
            actor: String::new(),
            created_at: String::new(),
            time: String::new(),
            text: Some(String::new()),
            deleted: false,
            edited_at: None,
            thread: None,
            context: None,
            original: None,
            line: Vec::new(),
            poll: (shape == "poll").then(|| PollRowView::new(&blank_poll(), "", &PollReader::none(), 0)),
            file: (shape == "file").then(FileRowView::blank),
        }
    }

    /// The row of `e`, `None` for an edit or delete; `streams` names the other streams it
    /// links to (a share's original, a thread); `polls` says what the reader knows of the
    /// polls (their tally's cursor, their own vote).
    pub fn new(
        e: &EventObject,
        streams: &HashMap<ChannelId, Stream>,
        polls: &HashMap<MessageId, PollReader>,
    ) -> Option<Self> {
        let shape = match e.event_type {
            "event_edited" | "event_deleted" => return None,
            "message" => "message",
            "shared" => "shared",
            "poll" => "poll",
            "file" => "file",
            _ => "system",
        };
        let none = PollReader::none();
        let poll = e.poll.as_ref().map(|p| {
            PollRowView::new(
                p,
                &e.actor,
                polls.get(&e.event_id).unwrap_or(&none),
                crate::time::now_ms(),
            )
        });
        let label = |id: ChannelId| {
            streams.get(&id).map_or_else(
                || format!("stream {id}"),
                |s| stream_label(s.kind(), s.display_name(), s.id),
            )
        };
        let thread = e.thread_stream_id.filter(|_| shape == "message").map(|id| {
            let replies = e.reply_count.unwrap_or(0);
            ThreadView {
                id,
                replies,
                label: replies_label(replies),
            }
        });
        let original = match (e.original_event_id, e.original_stream_id) {
            (Some(event_id), Some(stream_id)) => Some(OriginalView {
                event_id,
                stream_id,
                href: format!("{}#e{event_id}", stream_href(stream_id)),
                stream: label(stream_id),
                deleted: e.text.is_none(),
            }),
            _ => None,
        };
        Some(EventView {
            id: e.event_id,
            shape,
            event_type: e.event_type.to_owned(),
            actor: e.actor.clone(),
            created_at: format_ms(e.created_at),
            time: short_time(e.created_at),
            text: e.text.clone(),
            deleted: e.deleted == Some(true),
            edited_at: e.edited_at.map(format_ms),
            thread,
            context: e.context.clone(),
            original,
            line: if shape == "system" { system_line(e) } else { Vec::new() },
            poll,
            file: e.file.as_ref().map(FileRowView::new),
        })
    }
}

fn quoted(s: &str) -> String {
    format!("“{s}”")
}

/// A system event as a sentence. `views/static/streams.js` (`systemLine`) words live
/// events the same way.
fn system_line(e: &EventObject) -> Vec<Phrase> {
    let actor = || Phrase::user(&e.actor);
    let user = e.user.as_deref().unwrap_or(&e.actor);
    match e.event_type {
        "member_joined" => match e.added_by.as_deref() {
            Some(by) if by != user => vec![Phrase::user(by), Phrase::text(" added "), Phrase::user(user)],
            _ => vec![Phrase::user(user), Phrase::text(" joined")],
        },
        "member_left" => vec![Phrase::user(user), Phrase::text(" left")],
        "poll_closed" => {
            let mut line = vec![actor(), Phrase::text(" closed ")];
            line.push(match e.target_event_id {
                Some(poll) => Phrase::link("a poll", format!("#e{poll}")),
                None => Phrase::text("a poll"),
            });
            line
        }
        "thread_started" => {
            let mut line = vec![actor(), Phrase::text(" started a ")];
            line.push(match e.thread_stream_id {
                Some(t) => Phrase::link("thread", stream_href(t)),
                None => Phrase::text("thread"),
            });
            if let Some(from) = e.branched_from_event_id {
                line.push(Phrase::text(" from "));
                line.push(Phrase::link("this message", format!("#e{from}")));
            }
            line
        }
        "stream_promoted" => {
            let to = match e.to_kind.as_deref() {
                Some("incident") => "an incident",
                Some("channel") => "a channel",
                Some(other) => other,
                None => "another kind",
            };
            let mut line = vec![actor(), Phrase::text(format!(" promoted this thread to {to}"))];
            if let Some(n) = &e.name {
                line.push(Phrase::text(format!(" {}", quoted(n))));
            }
            line
        }
        "stream_updated" => {
            let mut said = Vec::new();
            if let Some(n) = &e.name {
                said.push(format!("renamed this stream to {}", quoted(n)));
            }
            if e.description.is_some() {
                said.push("changed the description".to_owned());
            }
            match e.status.as_deref() {
                Some("resolved") => said.push("marked it resolved".into()),
                Some("active") => said.push("reopened it".into()),
                Some("archived") => said.push("archived it".into()),
                _ => {}
            }
            if said.is_empty() {
                said.push("updated this stream".into());
            }
            vec![actor(), Phrase::text(format!(" {}", join_and(&said)))]
        }
        other => vec![actor(), Phrase::text(format!(" {}", other.replace('_', " ")))],
    }
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A stream as its page's header shows it.
#[derive(Serialize)]
pub struct StreamView {
    pub id: ChannelId,
    pub kind: &'static str,
    pub status: &'static str,
    /// The heading: `#slug`, an incident's or thread's name, or "Thread".
    pub heading: String,
    pub description: Option<String>,
    pub total: String,
    pub total_n: i64,
    /// A channel's v1 page.
    pub channel_page: Option<String>,
}

impl StreamView {
    pub fn new(s: &Stream) -> Self {
        let kind = s.kind();
        StreamView {
            id: s.id,
            kind: kind.as_str(),
            status: s.status().as_str(),
            heading: heading(kind.as_str(), s.display_name()),
            description: s.description.clone(),
            total: group(s.total_messages),
            total_n: s.total_messages,
            channel_page: (kind == crate::store::StreamKind::Channel).then(|| format!("/channels/{}", s.name)),
        }
    }
}

/// A stream page's heading (the script's `heading` is the same).
pub fn heading(kind: &str, name: Option<&str>) -> String {
    match (kind, name) {
        ("channel", Some(n)) => format!("#{n}"),
        (_, Some(n)) => n.to_owned(),
        ("incident", None) => "Incident".into(),
        _ => "Thread".into(),
    }
}

/// Where a thread (or a stream promoted from one) branched from.
#[derive(Serialize)]
pub struct OriginView {
    pub parent_href: String,
    pub parent: String,
    pub message_href: Option<String>,
    /// The message's author and current text (`None` once deleted).
    pub actor: Option<String>,
    pub text: Option<String>,
}

/// One incident on `/incidents`.
#[derive(Serialize)]
pub struct IncidentRow {
    pub id: ChannelId,
    pub name: String,
    pub status: String,
    pub total: String,
    pub total_n: i64,
    pub last_at: Option<String>,
    pub last: String,
    pub cursor: Cursor,
}

impl IncidentRow {
    pub fn blank() -> Self {
        IncidentRow {
            id: ChannelId::default(),
            name: String::new(),
            status: String::new(),
            total: "0".into(),
            total_n: 0,
            last_at: None,
            last: "—".into(),
            cursor: Cursor::default(),
        }
    }
    pub fn new(s: &Stream) -> Self {
        IncidentRow {
            id: s.id,
            name: heading(s.kind().as_str(), s.display_name()),
            status: s.status().as_str().to_owned(),
            total: group(s.total_messages),
            total_n: s.total_messages,
            last_at: s.last_message_at.map(format_ms),
            last: s.last_message_at.map_or_else(|| "—".into(), short_time),
            cursor: s.last_message_id,
        }
    }
}

/// One entry of a top list: its rank, its name linked to its page, its messages in the
/// window and their rate, and its bar (its messages against the first entry's).
#[derive(Serialize)]
pub struct TopRow {
    pub name: String,
    pub label: String,
    pub href: String,
    pub rank: usize,
    pub total: String,
    pub total_n: i64,
    pub rate: String,
    /// The bar's width: "37.5%".
    pub bar: String,
}

impl TopRow {
    /// An empty row, for the `<template>` the script clones.
    pub fn blank() -> Self {
        TopRow {
            name: String::new(),
            label: String::new(),
            href: String::new(),
            rank: 0,
            total: "0".into(),
            total_n: 0,
            rate: "0".into(),
            bar: "0%".into(),
        }
    }
}

/// Whose top list it is: which entities it ranks, and how they are named and linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKind {
    Channels,
    Users,
}

impl TopKind {
    fn as_str(self) -> &'static str {
        match self {
            TopKind::Channels => "channels",
            TopKind::Users => "users",
        }
    }
    fn base(self) -> &'static str {
        match self {
            TopKind::Channels => "/channels/",
            TopKind::Users => "/users/",
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            TopKind::Channels => "#",
            TopKind::Users => "",
        }
    }
}

/// One top list of a page (a card): its rows, or what it says without any.
#[derive(Serialize)]
pub struct TopListView {
    /// `channels` or `users` (the script's `data-top`, and the envelope's list).
    pub kind: &'static str,
    pub title: &'static str,
    /// The name column's heading.
    pub noun: &'static str,
    pub base: &'static str,
    pub prefix: &'static str,
    pub rows: Vec<TopRow>,
    /// What an empty list says: "No messages in #rust in the last 24 hours."
    pub empty: String,
}

/// How a window's rates read: per minute up to an hour, per hour for a day, per day beyond.
/// The unit in minutes and the column's heading.
pub fn rate_unit(window: Window) -> (i64, &'static str) {
    match window {
        Window::FiveMinutes | Window::Hour => (1, "Per minute"),
        Window::Day => (60, "Per hour"),
        Window::Week | Window::Month => (1440, "Per day"),
    }
}

impl TopListView {
    /// `entries` as the server ranked them (messages descending, then name).
    pub fn new(kind: TopKind, entries: &[TopEntry], window: Window, empty: String) -> Self {
        let (unit, _) = rate_unit(window);
        let most = entries.first().map_or(1, |e| e.messages.max(1));
        let rows = entries
            .iter()
            .enumerate()
            .map(|(i, e)| TopRow {
                name: e.name.clone(),
                label: format!("{}{}", kind.prefix(), e.name),
                href: format!("{}{}", kind.base(), e.name),
                rank: i + 1,
                total: group(e.messages),
                total_n: e.messages,
                rate: rate(e.per_minute * unit as f64),
                bar: bar_width(e.messages, most),
            })
            .collect();
        TopListView {
            kind: kind.as_str(),
            title: match kind {
                TopKind::Channels => "Top channels",
                TopKind::Users => "Top users",
            },
            noun: match kind {
                TopKind::Channels => "Channel",
                TopKind::Users => "User",
            },
            base: kind.base(),
            prefix: kind.prefix(),
            rows,
            empty,
        }
    }

    /// A list of a window that has none (a from–to): its heading, and no rows.
    pub fn unkept(kind: TopKind) -> Self {
        TopListView::new(kind, &[], Window::Hour, String::new())
    }
}

/// A bar's width for `n` of `most` (the list's first), to a tenth of a percent, at least 1%
/// so that every entry shows one. The script computes the same.
fn bar_width(n: i64, most: i64) -> String {
    let tenths = ((1000 * n.max(0)) as f64 / most.max(1) as f64).round() / 10.0;
    format!("{}%", tenths.max(1.0))
}

/// The top lists of a page: their live view (`top/<window>…`) and its read-API twin for
/// polling, the window they cover, and the lists. A from–to window has none: top lists
/// are kept for the windows back from now only, and the page says so.
#[derive(Serialize)]
pub struct TopsView {
    /// A window back from now: the lists are shown and live.
    pub live: bool,
    pub view: String,
    pub poll: String,
    /// "the last 24 hours".
    pub window_label: String,
    /// The rates' unit in minutes, and the rate column's heading.
    pub unit: i64,
    pub unit_label: &'static str,
    /// Where the window starts (a whole minute): RFC 3339, and by the time rule in UTC.
    pub since_at: String,
    pub since: String,
    /// Entries a list holds at most.
    pub top_n: usize,
    pub lists: Vec<TopListView>,
    /// An empty row for the lists' `<template>` elements.
    pub blank: TopRow,
}

impl TopsView {
    /// The lists of `top`, read for `view`.
    pub fn new(top: &TopList, view: String, poll: String, window_label: &str, lists: Vec<TopListView>) -> Self {
        let (unit, unit_label) = rate_unit(top.window);
        TopsView {
            live: true,
            view,
            poll,
            window_label: window_label.to_owned(),
            unit,
            unit_label,
            since_at: format_ms(top.since),
            since: short_time(top.since),
            top_n: TOP_N,
            lists,
            blank: TopRow::blank(),
        }
    }

    /// A page whose window is a from–to (or none): the lists' headings and a note.
    pub fn unkept(lists: Vec<TopListView>) -> Self {
        TopsView {
            live: false,
            view: String::new(),
            poll: String::new(),
            window_label: String::new(),
            unit: 1,
            unit_label: "",
            since_at: String::new(),
            since: String::new(),
            top_n: TOP_N,
            lists,
            blank: TopRow::blank(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{file_ext, voters_label};

    #[test]
    fn a_file_badge_is_its_short_extension() {
        assert_eq!(file_ext("error-rate.png"), "PNG");
        assert_eq!(file_ext("deploy-2.5.0.log"), "LOG");
        assert_eq!(file_ext("archive.tar.gz"), "GZ");
        assert_eq!(file_ext("notes.markdown"), "FILE");
        assert_eq!(file_ext(".bashrc"), "FILE");
        assert_eq!(file_ext("Makefile"), "FILE");
        assert_eq!(file_ext("odd.p-g"), "FILE");
    }

    #[test]
    fn voters_read_as_a_count() {
        assert_eq!(voters_label(0), "No votes yet");
        assert_eq!(voters_label(1), "1 voter");
        assert_eq!(voters_label(1204), "1,204 voters");
    }
}
