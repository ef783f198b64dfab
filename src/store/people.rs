//! People (PROTOCOL.md section 8, issue 13): who may see a stream, each member's read
//! state and badges, and the inbox of what concerns one person (mentions, memberships,
//! read cursors). Badges are kept exact by the write path in the transaction that changes
//! them, so reading them is one row per stream a person is in, however long the streams.
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::ids::{ChannelId, Cursor, MessageId, UserId};
use super::schema::{channels, inbox, messages, stream_members, users};
use super::streams::{self, Stream};
use super::DbConnection;

/// Whether `user` (or an anonymous caller) may see `s`: a public stream anyone, a private
/// one, a DM or a thread of one only a member of the stream it takes its members from.
pub fn can_see(conn: &mut DbConnection, s: &Stream, user: Option<UserId>) -> QueryResult<bool> {
    if !s.private {
        return Ok(true);
    }
    match user {
        Some(u) => Ok(streams::role_of(conn, s.access_id.unwrap_or(s.id), u)?.is_some()),
        None => Ok(false),
    }
}

/// Counts a commit's messages (`first..=last`) as unread for every member of their streams
/// but the author, after the member's read cursor; every member of such a stream has its
/// badge (and the stream's count) changed at `last`. One statement: streams nobody joined
/// (v1 channels) cost a probe of the primary key.
pub(super) fn count_unread(conn: &mut DbConnection, first: MessageId, last: MessageId) -> QueryResult<()> {
    const SQL: &str = "UPDATE stream_members SET \
        unread_count = unread_count + (SELECT COUNT(*) FROM messages m \
            WHERE m.channel_id = stream_members.stream_id AND m.id BETWEEN $1 AND $2 \
            AND m.id > stream_members.last_read_id AND m.kind = 'message' AND NOT m.deleted \
            AND m.user_id <> stream_members.user_id), \
        badge_id = $2 \
        WHERE stream_id IN (SELECT channel_id FROM messages WHERE id BETWEEN $1 AND $2 AND kind = 'message')";
    // SQLite reads `$1` and `$2` as named parameters, numbered in order of first use: the
    // same statement binds the same way on both backends.
    diesel::sql_query(SQL)
        .bind::<BigInt, _>(first)
        .bind::<BigInt, _>(last)
        .execute(conn)
        .map(drop)
}

/// Sets the badge of every member of `stream` changed at `event` (the stream's state
/// changed: its members' `workspace` views send it).
pub(super) fn touch_members(conn: &mut DbConnection, stream: ChannelId, event: MessageId) -> QueryResult<()> {
    diesel::update(stream_members::table.filter(stream_members::stream_id.eq(stream)))
        .set(stream_members::badge_id.eq(event))
        .execute(conn)
        .map(drop)
}

/// Messages by others after `after` in `stream`, not deleted.
fn unread_after(conn: &mut DbConnection, stream: ChannelId, user: UserId, after: MessageId) -> QueryResult<i64> {
    messages::table
        .filter(messages::channel_id.eq(stream))
        .filter(messages::id.gt(after))
        .filter(messages::kind.eq("message"))
        .filter(diesel::dsl::not(messages::deleted))
        .filter(messages::user_id.ne(user))
        .count()
        .get_result(conn)
}

/// Mentions of `user` after `after` in `stream` (a deleted message's are removed with it).
fn mentions_after(conn: &mut DbConnection, stream: ChannelId, user: UserId, after: MessageId) -> QueryResult<i64> {
    inbox::table
        .filter(inbox::user_id.eq(user))
        .filter(inbox::stream_id.eq(stream))
        .filter(inbox::kind.eq(MENTION))
        .filter(inbox::event_id.gt(after))
        .count()
        .get_result(conn)
}

/// Moves `user`'s read cursor in `stream` to `to` and counts their badges anew; `event` is
/// the cursor of the change.
pub(super) fn set_read(
    conn: &mut DbConnection,
    stream: ChannelId,
    user: UserId,
    to: MessageId,
    event: MessageId,
) -> QueryResult<()> {
    let unread = unread_after(conn, stream, user, to)?;
    let mentions = mentions_after(conn, stream, user, to)?;
    diesel::update(stream_members::table.find((stream, user)))
        .set((
            stream_members::last_read_id.eq(to),
            stream_members::unread_count.eq(unread),
            stream_members::mention_count.eq(mentions),
            stream_members::badge_id.eq(event),
        ))
        .execute(conn)?;
    add_to_inbox(conn, user, event, Inbox::Read, stream, to)
}

/// A member's read cursor, if they are one.
pub fn last_read(conn: &mut DbConnection, stream: ChannelId, user: UserId) -> QueryResult<Option<MessageId>> {
    stream_members::table
        .find((stream, user))
        .select(stream_members::last_read_id)
        .first(conn)
        .optional()
}

/// A message of `stream` (`id`, by `author`) is gone: it stops counting as unread for the
/// members who had not read it (unless `counted` is false: a message of the same
/// transaction, not counted yet) and its mentions are withdrawn. `event` is the delete's
/// cursor.
pub(super) fn uncount(
    conn: &mut DbConnection,
    stream: ChannelId,
    id: MessageId,
    author: UserId,
    counted: bool,
    event: MessageId,
) -> QueryResult<()> {
    if counted {
        diesel::update(
            stream_members::table
                .filter(stream_members::stream_id.eq(stream))
                .filter(stream_members::user_id.ne(author))
                .filter(stream_members::last_read_id.lt(id)),
        )
        .set((
            stream_members::unread_count.eq(stream_members::unread_count - 1),
            stream_members::badge_id.eq(event),
        ))
        .execute(conn)?;
    }
    for user in mentioned(conn, id)? {
        unmention(conn, stream, id, user, event)?;
    }
    Ok(())
}

/// Who `message` notified and still does.
pub(super) fn mentioned(conn: &mut DbConnection, message: MessageId) -> QueryResult<Vec<UserId>> {
    inbox::table
        .filter(inbox::event_id.eq(message))
        .filter(inbox::kind.eq(MENTION))
        .select(inbox::user_id)
        .load(conn)
}

/// Records that message `message` of `stream` mentions `user` (as of `event`, the message
/// itself or an edit): a notification, and one more mention on their badge if they are a
/// member who has not read it.
pub(super) fn mention(
    conn: &mut DbConnection,
    stream: ChannelId,
    message: MessageId,
    user: UserId,
    event: MessageId,
) -> QueryResult<()> {
    add_to_inbox(conn, user, event, Inbox::Mention, stream, message)?;
    diesel::update(
        stream_members::table
            .find((stream, user))
            .filter(stream_members::last_read_id.lt(message)),
    )
    .set((
        stream_members::mention_count.eq(stream_members::mention_count + 1),
        stream_members::badge_id.eq(event),
    ))
    .execute(conn)
    .map(drop)
}

/// Withdraws `message`'s mention of `user` (an edit took it out, or the message is gone).
pub(super) fn unmention(
    conn: &mut DbConnection,
    stream: ChannelId,
    message: MessageId,
    user: UserId,
    event: MessageId,
) -> QueryResult<()> {
    let removed = diesel::delete(
        inbox::table
            .filter(inbox::user_id.eq(user))
            .filter(inbox::event_id.eq(message))
            .filter(inbox::kind.eq(MENTION)),
    )
    .execute(conn)?;
    if removed > 0 {
        diesel::update(
            stream_members::table
                .find((stream, user))
                .filter(stream_members::last_read_id.lt(message)),
        )
        .set((
            stream_members::mention_count.eq(stream_members::mention_count - 1),
            stream_members::badge_id.eq(event),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// The users a message's mentions notify: those named who exist, may see the stream, and
/// are not its author.
pub(super) fn notified(
    conn: &mut DbConnection,
    s: &Stream,
    names: &[String],
    author: UserId,
) -> QueryResult<Vec<UserId>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<UserId> = users::table
        .filter(users::username.eq_any(names))
        .filter(users::id.ne(author))
        .select(users::id)
        .load(conn)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if can_see(conn, s, Some(id))? {
            out.push(id);
        }
    }
    Ok(out)
}

/// What an inbox row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inbox {
    Mention,
    MemberAdded,
    MemberRemoved,
    Read,
}

const MENTION: &str = "mention";

impl Inbox {
    pub fn as_str(self) -> &'static str {
        match self {
            Inbox::Mention => MENTION,
            Inbox::MemberAdded => "member_added",
            Inbox::MemberRemoved => "member_removed",
            Inbox::Read => "read",
        }
    }

    fn parse(s: &str) -> Inbox {
        match s {
            "member_added" => Inbox::MemberAdded,
            "member_removed" => Inbox::MemberRemoved,
            "read" => Inbox::Read,
            _ => Inbox::Mention,
        }
    }
}

pub(super) fn add_to_inbox(
    conn: &mut DbConnection,
    user: UserId,
    cursor: MessageId,
    kind: Inbox,
    stream: ChannelId,
    event: MessageId,
) -> QueryResult<()> {
    diesel::insert_into(inbox::table)
        .values((
            inbox::user_id.eq(user),
            inbox::cursor.eq(cursor),
            inbox::kind.eq(kind.as_str()),
            inbox::stream_id.eq(stream),
            inbox::event_id.eq(event),
        ))
        .execute(conn)
        .map(drop)
}

/// One member's badge in one stream, as a commit left it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Badge {
    pub stream_id: ChannelId,
    pub user: String,
    pub unread_count: i64,
    pub mention_count: i64,
    pub last_read_id: MessageId,
    /// The cursor of this change.
    pub cursor: Cursor,
}

type BadgeRow = (ChannelId, String, i64, i64, MessageId, Cursor);

fn badge((stream_id, user, unread_count, mention_count, last_read_id, cursor): BadgeRow) -> Badge {
    Badge {
        stream_id,
        user,
        unread_count,
        mention_count,
        last_read_id,
        cursor,
    }
}

const BADGE_COLUMNS: (
    stream_members::stream_id,
    users::username,
    stream_members::unread_count,
    stream_members::mention_count,
    stream_members::last_read_id,
    stream_members::badge_id,
) = (
    stream_members::stream_id,
    users::username,
    stream_members::unread_count,
    stream_members::mention_count,
    stream_members::last_read_id,
    stream_members::badge_id,
);

/// Badges changed by the commits of `first..=last`.
pub(super) fn badges_between(conn: &mut DbConnection, first: MessageId, last: MessageId) -> QueryResult<Vec<Badge>> {
    let rows: Vec<BadgeRow> = stream_members::table
        .inner_join(users::table)
        .filter(stream_members::badge_id.between(first, last))
        .order(stream_members::badge_id.asc())
        .select(BADGE_COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(badge).collect())
}

/// `user`'s badges changed after `after`, oldest change first, with their streams; at most
/// `limit` (a `workspace` view's catch-up).
pub fn badges_after(
    conn: &mut DbConnection,
    user: UserId,
    after: Cursor,
    limit: i64,
) -> QueryResult<Vec<(Badge, super::Channel)>> {
    let rows: Vec<(BadgeRow, super::Channel)> = stream_members::table
        .inner_join(users::table)
        .inner_join(channels::table)
        .filter(stream_members::user_id.eq(user))
        .filter(stream_members::badge_id.gt(after))
        .order(stream_members::badge_id.asc())
        .limit(limit)
        .select((BADGE_COLUMNS, super::Channel::as_select()))
        .load(conn)?;
    Ok(rows.into_iter().map(|(b, c)| (badge(b), c)).collect())
}

/// One inbox row, with its person's name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InboxEntry {
    pub user: String,
    pub cursor: Cursor,
    pub kind: Inbox,
    pub stream_id: ChannelId,
    pub event_id: MessageId,
}

type InboxRow = (String, Cursor, String, ChannelId, MessageId);

fn entry((user, cursor, kind, stream_id, event_id): InboxRow) -> InboxEntry {
    InboxEntry {
        user,
        cursor,
        kind: Inbox::parse(&kind),
        stream_id,
        event_id,
    }
}

const INBOX_COLUMNS: (
    users::username,
    inbox::cursor,
    inbox::kind,
    inbox::stream_id,
    inbox::event_id,
) = (
    users::username,
    inbox::cursor,
    inbox::kind,
    inbox::stream_id,
    inbox::event_id,
);

/// Inbox rows of the commits of `first..=last`.
pub(super) fn inbox_between(
    conn: &mut DbConnection,
    first: MessageId,
    last: MessageId,
) -> QueryResult<Vec<InboxEntry>> {
    let rows: Vec<InboxRow> = inbox::table
        .inner_join(users::table)
        .filter(inbox::cursor.between(first, last))
        .order(inbox::cursor.asc())
        .select(INBOX_COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(entry).collect())
}

/// `user`'s inbox after `after` (oldest first) or before `before` (newest first), of one
/// kind when given; at most `limit`.
pub fn inbox_of(
    conn: &mut DbConnection,
    user: UserId,
    kind: Option<Inbox>,
    after: Option<Cursor>,
    before: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<InboxEntry>> {
    let mut q = inbox::table
        .inner_join(users::table)
        .filter(inbox::user_id.eq(user))
        .select(INBOX_COLUMNS)
        .limit(limit)
        .into_boxed();
    if let Some(k) = kind {
        q = q.filter(inbox::kind.eq(k.as_str()));
    }
    if let Some(b) = before {
        q = q.filter(inbox::cursor.lt(b));
    }
    let rows: Vec<InboxRow> = match after {
        Some(a) => q.filter(inbox::cursor.gt(a)).order(inbox::cursor.asc()).load(conn)?,
        None => q.order(inbox::cursor.desc()).load(conn)?,
    };
    Ok(rows.into_iter().map(entry).collect())
}

/// Whether `user`'s inbox holds more than `max` rows after `after`.
pub fn inbox_exceeds(conn: &mut DbConnection, user: UserId, after: Cursor, max: i64) -> QueryResult<bool> {
    Ok(inbox::table
        .filter(inbox::user_id.eq(user))
        .filter(inbox::cursor.gt(after))
        .select(inbox::cursor)
        .order(inbox::cursor.asc())
        .offset(max)
        .limit(1)
        .first::<Cursor>(conn)
        .optional()?
        .is_some())
}

/// A stream as a member sees it in their list: the stream and their badge.
pub struct Membership {
    pub stream: Stream,
    pub role: String,
    pub last_read_id: MessageId,
    pub unread_count: i64,
    pub mention_count: i64,
}

/// `user`'s membership of `s`, if they are a member.
pub fn membership(conn: &mut DbConnection, s: &Stream, user: UserId) -> QueryResult<Option<Membership>> {
    let row: Option<(String, MessageId, i64, i64)> = stream_members::table
        .find((s.id, user))
        .select((
            stream_members::role,
            stream_members::last_read_id,
            stream_members::unread_count,
            stream_members::mention_count,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(role, last_read_id, unread_count, mention_count)| Membership {
        stream: s.clone(),
        role,
        last_read_id,
        unread_count,
        mention_count,
    }))
}

/// Every stream `user` is a member of and may still see, newest first: one read of their
/// member rows (a person in 1,000 streams reads 1,000 rows, whatever the streams hold).
pub fn memberships(conn: &mut DbConnection, user: UserId) -> QueryResult<Vec<Membership>> {
    let _timer = crate::metrics::read_timer("memberships");
    let rows: Vec<(Stream, (String, MessageId, i64, i64))> = stream_members::table
        .inner_join(channels::table)
        .filter(stream_members::user_id.eq(user))
        .order(channels::id.desc())
        .select((
            Stream::as_select(),
            (
                stream_members::role,
                stream_members::last_read_id,
                stream_members::unread_count,
                stream_members::mention_count,
            ),
        ))
        .load(conn)?;
    let mine: std::collections::HashSet<ChannelId> = rows.iter().map(|(s, _)| s.id).collect();
    Ok(rows
        .into_iter()
        // A private stream's thread is seen through its parent's membership.
        .filter(|(s, _)| !s.private || mine.contains(&s.access_id.unwrap_or(s.id)))
        .map(
            |(stream, (role, last_read_id, unread_count, mention_count))| Membership {
                stream,
                role,
                last_read_id,
                unread_count,
                mention_count,
            },
        )
        .collect())
}
