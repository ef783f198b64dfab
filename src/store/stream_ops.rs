//! Changes to streams (PROTOCOL.md section 8), each run by the write path in its own
//! savepoint of a group commit, like an ingest request: every event it adds takes the next
//! cursor, and a refused change (a rule broken) rolls back and leaves nothing behind.
use diesel::prelude::*;

use super::ids::{ChannelId, MessageId, UserId};
use super::messages::{EventType, Message, NewMessage};
use super::people::{self, Inbox};
use super::schema::{channels, messages, meta, stream_members, users};
use super::streams::{self, Stream, StreamKind, StreamStatus};
use super::users::find_or_create_user;
use super::write::{insert_rows, next_id, Inserted, Names, NewRow};
use super::{DbConnection, StoreError};

/// Who asks: a user token's subject.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    /// The token says so: may delete any message, manage any stream.
    pub admin: bool,
}

/// One change, as the API asks for it (already checked for form: names follow their
/// rules, texts their limits).
#[derive(Debug, Clone)]
pub enum StreamOp {
    Create {
        kind: StreamKind,
        /// A channel's slug; an incident's title (a DM's is made from its members).
        name: String,
        description: Option<String>,
        /// A private channel or incident (a DM always is).
        private: bool,
        /// A DM's people besides its creator; others' members join or are added.
        members: Vec<String>,
    },
    Update {
        stream: ChannelId,
        name: Option<String>,
        description: Option<String>,
        status: Option<StreamStatus>,
    },
    Archive {
        stream: ChannelId,
    },
    Post {
        stream: ChannelId,
        text: String,
        client_temp_id: Option<String>,
        event_id: Option<String>,
    },
    Edit {
        stream: ChannelId,
        event: MessageId,
        text: String,
    },
    Delete {
        stream: ChannelId,
        event: MessageId,
    },
    /// Deletes the message stored with this idempotency key, wherever it is (a moderation
    /// line of IRC ingest names the message it removes by its id).
    DeleteByKey {
        event_id: String,
    },
    Thread {
        stream: ChannelId,
        event: MessageId,
    },
    Promote {
        stream: ChannelId,
        kind: StreamKind,
        name: String,
    },
    Share {
        stream: ChannelId,
        event: MessageId,
        context: Option<String>,
    },
    Join {
        stream: ChannelId,
    },
    Leave {
        stream: ChannelId,
    },
    AddMember {
        stream: ChannelId,
        user: String,
    },
    /// Moves the actor's read cursor forward to `event` (everything up to it is read).
    Read {
        stream: ChannelId,
        event: MessageId,
    },
    /// Marks `event` and everything after it unread (the read cursor moves back).
    Unread {
        stream: ChannelId,
        event: MessageId,
    },
    /// Asks a question (issue 17); `closes_at` in milliseconds since the epoch.
    Poll {
        stream: ChannelId,
        question: String,
        options: Vec<String>,
        multiple: bool,
        closes_at: Option<i64>,
    },
    /// The actor's vote on the poll `poll`: the indexes of the options chosen (one unless
    /// it takes several), replacing their earlier vote.
    Vote {
        stream: ChannelId,
        poll: MessageId,
        options: Vec<usize>,
    },
    /// Closes the poll (its author, an owner of the stream or an admin).
    ClosePoll {
        stream: ChannelId,
        poll: MessageId,
    },
    /// Adds the `file` event of an upload whose bytes are stored (`files.id` = `file`).
    AttachFile {
        stream: ChannelId,
        file: i64,
    },
}

/// What a change did: the stream and event it is about, and whether it made them (a
/// repeated post or thread finds the first).
#[derive(Debug, Clone)]
pub struct OpOutcome {
    pub stream: ChannelId,
    pub event: Option<MessageId>,
    pub created: bool,
    /// The event as committed, when this change logged it (filled in by the write path
    /// from what the transaction read back for the live views).
    pub row: Option<Message>,
}

/// Why a change was refused; the API answers each with its status (PROTOCOL.md section 8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

/// A change fails on a rule or on the database.
#[derive(Debug)]
pub(super) enum OpError {
    Refused(Refusal),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for OpError {
    fn from(e: diesel::result::Error) -> Self {
        OpError::Db(e)
    }
}

impl From<OpError> for StoreError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Refused(r) => StoreError::Refused(r),
            OpError::Db(e) => StoreError::Query(e),
        }
    }
}

type OpResult<T> = Result<T, OpError>;

fn refuse<T>(r: Refusal) -> OpResult<T> {
    Err(OpError::Refused(r))
}

fn not_found<T>(what: &str) -> OpResult<T> {
    refuse(Refusal::NotFound(format!("no such {what}")))
}

/// Where the transaction is: what it inserted so far, after the newest id when it began.
pub(super) struct Tx<'a> {
    pub rows: &'a mut Vec<Inserted>,
    pub last_before: MessageId,
    pub names: &'a mut Names,
    pub now: i64,
}

/// Runs one change.
pub(super) fn apply(conn: &mut DbConnection, tx: &mut Tx, actor: &Actor, op: &StreamOp) -> OpResult<OpOutcome> {
    let me = find_or_create_user(conn, &mut tx.names.users, &actor.name, None)?;
    match op {
        StreamOp::Create {
            kind: StreamKind::Dm,
            members,
            ..
        } => dm(conn, tx, me, &actor.name, members),
        StreamOp::Create {
            kind,
            name,
            description,
            private,
            members: _,
        } => create(conn, tx, me, *kind, name, description.as_deref(), *private),
        StreamOp::Update {
            stream,
            name,
            description,
            status,
        } => {
            let s = writable(conn, *stream, me)?;
            manager(conn, &s, me, actor)?;
            update(conn, tx, me, &s, name.as_deref(), description.as_deref(), *status)
        }
        StreamOp::Archive { stream } => {
            let s = writable(conn, *stream, me)?;
            manager(conn, &s, me, actor)?;
            diesel::update(channels::table.find(s.id))
                .set((
                    channels::status.eq(StreamStatus::Archived.as_str()),
                    channels::archived_at.eq(tx.now),
                ))
                .execute(conn)?;
            let event = append(
                conn,
                tx,
                &s,
                me,
                EventType::StreamUpdated,
                json(&[("status", "archived".into())]),
                None,
                "",
            )?;
            touch_stream(conn, s.id, event)?;
            done(s.id, event, true)
        }
        StreamOp::Post {
            stream,
            text,
            client_temp_id,
            event_id,
        } => post(
            conn,
            tx,
            me,
            actor,
            *stream,
            text,
            client_temp_id.as_deref(),
            event_id.as_deref(),
        ),
        StreamOp::Edit { stream, event, text } => {
            let s = writable(conn, *stream, me)?;
            let target = message_in(conn, &s, *event)?;
            if target.user_id != me {
                return refuse(Refusal::Forbidden("only its author may edit a message".into()));
            }
            edit(conn, tx, me, &s, &target, text)
        }
        StreamOp::Delete { stream, event } => {
            let s = writable(conn, *stream, me)?;
            let target = match streams::event_by_id(conn, *event)? {
                Some(m)
                    if m.channel_id == s.id
                        && !m.deleted
                        && matches!(m.event_type(), EventType::Message | EventType::Poll | EventType::File) =>
                {
                    m
                }
                _ => return not_found("message, poll or file in this stream"),
            };
            if target.user_id != me && manager(conn, &s, me, actor).is_err() {
                return refuse(Refusal::Forbidden(
                    "only its author, an owner of the stream or an admin may delete a message".into(),
                ));
            }
            delete(conn, tx, me, &s, &target)
        }
        StreamOp::DeleteByKey { event_id } => {
            let stored: Option<MessageId> = messages::table
                .filter(messages::event_id.eq(event_id))
                .select(messages::id)
                .first(conn)
                .optional()?;
            let Some(id) = stored else {
                return not_found("message with this event_id");
            };
            let stream: ChannelId = messages::table.find(id).select(messages::channel_id).first(conn)?;
            apply(conn, tx, actor, &StreamOp::Delete { stream, event: id })
        }
        StreamOp::Read { stream, event } | StreamOp::Unread { stream, event } => {
            let s = writable(conn, *stream, me)?;
            let Some(read) = people::last_read(conn, s.id, me)? else {
                return refuse(Refusal::Conflict(
                    "read state is a member's: join the stream first".into(),
                ));
            };
            let in_stream = messages::table
                .find(*event)
                .filter(messages::channel_id.eq(s.id))
                .count()
                .get_result::<i64>(conn)?
                > 0;
            if !in_stream {
                return not_found("event in this stream");
            }
            let to = match op {
                StreamOp::Read { .. } => *event,
                _ => MessageId(event.0 - 1),
            };
            // A read cursor only moves forward by `read` (a device that is behind cannot
            // undo another's), only back by `unread`.
            let moves = match op {
                StreamOp::Read { .. } => to > read,
                _ => to < read,
            };
            if !moves {
                return Ok(OpOutcome {
                    stream: s.id,
                    event: None,
                    created: false,
                    row: None,
                });
            }
            let payload = json(&[("last_read_event_id", to.0.into())]);
            let cursor = append(conn, tx, &s, me, EventType::Read, payload, Some(to), "")?;
            people::set_read(conn, s.id, me, to, cursor)?;
            done(s.id, cursor, true)
        }
        StreamOp::Thread { stream, event } => {
            let s = writable(conn, *stream, me)?;
            let target = message_in(conn, &s, *event)?;
            if let Some(thread) = streams::thread_of(conn, target.id)? {
                return Ok(OpOutcome {
                    stream: thread.id,
                    event: None,
                    created: false,
                    row: None,
                });
            }
            thread(conn, tx, me, &s, &target)
        }
        StreamOp::Promote { stream, kind, name } => {
            let s = writable(conn, *stream, me)?;
            if s.kind() != StreamKind::Thread {
                return refuse(Refusal::Conflict(format!(
                    "only a thread can be promoted; this is a {}",
                    s.kind
                )));
            }
            manager(conn, &s, me, actor)?;
            promote(conn, tx, me, actor, &s, *kind, name)
        }
        StreamOp::Share { stream, event, context } => {
            let s = writable(conn, *stream, me)?;
            let original = match streams::event_by_id(conn, *event)? {
                Some(m) if m.is_live_message() => m,
                _ => return not_found("message to share"),
            };
            let from = streams::stream_by_id(conn, original.channel_id)?.expect("an event's stream exists");
            if !people::can_see(conn, &from, Some(me))? {
                return not_found("message to share");
            }
            // A private message goes no further than the people who may see it already.
            if from.private && (!s.private || s.access_id != from.access_id) {
                return refuse(Refusal::Forbidden(
                    "a private stream's message can be shared only among the same members".into(),
                ));
            }
            let mut payload = serde_json::Map::new();
            payload.insert("original_event_id".into(), original.id.0.into());
            payload.insert("original_stream_id".into(), original.channel_id.0.into());
            payload.insert("context".into(), context.clone().into());
            let id = append(
                conn,
                tx,
                &s,
                me,
                EventType::Shared,
                payload,
                Some(original.id),
                &original.text,
            )?;
            done(s.id, id, true)
        }
        StreamOp::Poll {
            stream,
            question,
            options,
            multiple,
            closes_at,
        } => {
            let s = writable(conn, *stream, me)?;
            if closes_at.is_some_and(|at| at <= tx.now) {
                return refuse(Refusal::Invalid("closes_at is not in the future".into()));
            }
            let mut payload = json(&[
                ("question", question.as_str().into()),
                ("options", options.clone().into()),
                ("multiple", (*multiple).into()),
            ]);
            if let Some(at) = closes_at {
                payload.insert("closes_at".into(), (*at).into());
            }
            let event = append(conn, tx, &s, me, EventType::Poll, payload, None, question)?;
            super::polls::create(conn, event, s.id, question, options, *multiple, *closes_at)?;
            touch(conn, &s, me, event)?;
            done(s.id, event, true)
        }
        StreamOp::Vote { stream, poll, options } => {
            let s = writable(conn, *stream, me)?;
            let p = poll_in(conn, &s, *poll)?;
            if p.tally.is_closed(tx.now) {
                return refuse(Refusal::Conflict("the poll is closed".into()));
            }
            let mut chosen = options.clone();
            chosen.sort_unstable();
            chosen.dedup();
            if chosen.len() != options.len() || chosen.iter().any(|i| *i >= p.options.len()) {
                return refuse(Refusal::Invalid(format!(
                    "options are indexes of the poll's {} options, each once",
                    p.options.len()
                )));
            }
            if chosen.is_empty() || (!p.multiple && chosen.len() > 1) {
                return refuse(Refusal::Invalid(if p.multiple {
                    "choose at least one option".into()
                } else {
                    "this poll takes one option".into()
                }));
            }
            let payload = json(&[("options", chosen.clone().into())]);
            let event = append(
                conn,
                tx,
                &s,
                me,
                EventType::PollVote,
                payload,
                Some(p.tally.event_id),
                "",
            )?;
            super::polls::vote(conn, &p, me, &chosen, tx.now, event)?;
            done(s.id, event, true)
        }
        StreamOp::ClosePoll { stream, poll } => {
            let s = writable(conn, *stream, me)?;
            let p = poll_in(conn, &s, *poll)?;
            let author: UserId = messages::table.find(*poll).select(messages::user_id).first(conn)?;
            if author != me && manager(conn, &s, me, actor).is_err() {
                return refuse(Refusal::Forbidden(
                    "only its author, an owner of the stream or an admin may close a poll".into(),
                ));
            }
            if p.tally.closed_at.is_some() {
                return refuse(Refusal::Conflict("the poll is closed already".into()));
            }
            let event = append(conn, tx, &s, me, EventType::PollClosed, json(&[]), Some(*poll), "")?;
            super::polls::close(conn, *poll, tx.now, event)?;
            done(s.id, event, true)
        }
        StreamOp::AttachFile { stream, file } => {
            let s = writable(conn, *stream, me)?;
            let Some(f) = super::files::staged(conn, *file)? else {
                return not_found("upload");
            };
            let payload = json(&[
                ("name", f.name.as_str().into()),
                ("size", f.size.into()),
                ("content_type", f.content_type.as_str().into()),
            ]);
            let event = append(conn, tx, &s, me, EventType::File, payload, None, &f.name)?;
            super::files::attach(conn, *file, event, s.id)?;
            touch(conn, &s, me, event)?;
            done(s.id, event, true)
        }
        StreamOp::Join { stream } => {
            let s = writable(conn, *stream, me)?;
            fixed_members(&s)?;
            join(conn, tx, me, &actor.name, &s, "member", None)
        }
        StreamOp::Leave { stream } => {
            let s = writable(conn, *stream, me)?;
            fixed_members(&s)?;
            let removed = diesel::delete(stream_members::table.find((s.id, me))).execute(conn)?;
            if removed == 0 {
                return refuse(Refusal::Conflict("you are not a member of this stream".into()));
            }
            // Leaving a private stream is leaving its threads too: they are seen through it.
            if s.private && s.access_id == Some(s.id) {
                let threads = channels::table
                    .filter(channels::access_id.eq(s.id))
                    .select(channels::id);
                diesel::delete(
                    stream_members::table
                        .filter(stream_members::user_id.eq(me))
                        .filter(stream_members::stream_id.eq_any(threads)),
                )
                .execute(conn)?;
            }
            let event = append(
                conn,
                tx,
                &s,
                me,
                EventType::MemberLeft,
                json(&[("user", actor.name.clone().into())]),
                None,
                "",
            )?;
            people::add_to_inbox(conn, me, event, Inbox::MemberRemoved, s.id, event)?;
            done(s.id, event, true)
        }
        StreamOp::AddMember { stream, user } => {
            let s = writable(conn, *stream, me)?;
            fixed_members(&s)?;
            if streams::role_of(conn, s.id, me)?.is_none() && !actor.admin {
                return refuse(Refusal::Forbidden("only a member may add members".into()));
            }
            let them = find_or_create_user(conn, &mut tx.names.users, user, None)?;
            // A private thread's people are its parent's: they are added there.
            if s.private && s.access_id != Some(s.id) && !people::can_see(conn, &s, Some(them))? {
                return refuse(Refusal::Conflict(
                    "a private thread's members are its parent stream's: add them there".into(),
                ));
            }
            join(conn, tx, them, user, &s, "member", Some(&actor.name))
        }
    }
}

fn done(stream: ChannelId, event: MessageId, created: bool) -> OpResult<OpOutcome> {
    Ok(OpOutcome {
        stream,
        event: Some(event),
        created,
        row: None,
    })
}

fn json(fields: &[(&str, serde_json::Value)]) -> serde_json::Map<String, serde_json::Value> {
    fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

/// The stream, if it exists, `me` may see it (a private one that they may not is not
/// found: its existence never leaks) and it takes changes (not archived).
fn writable(conn: &mut DbConnection, id: ChannelId, me: UserId) -> OpResult<Stream> {
    match streams::stream_by_id(conn, id)? {
        None => not_found("stream"),
        Some(s) if !people::can_see(conn, &s, Some(me))? => not_found("stream"),
        Some(s) if s.status() == StreamStatus::Archived => {
            refuse(Refusal::Conflict("the stream is archived: it takes no changes".into()))
        }
        Some(s) => Ok(s),
    }
}

/// A DM's people are fixed: the same set is the same DM.
fn fixed_members(s: &Stream) -> OpResult<()> {
    if s.kind() == StreamKind::Dm {
        return refuse(Refusal::Conflict(
            "a DM's members are fixed: start another DM for other people".into(),
        ));
    }
    Ok(())
}

/// The message `id` of stream `s`, not deleted.
fn message_in(conn: &mut DbConnection, s: &Stream, id: MessageId) -> OpResult<Message> {
    match streams::event_by_id(conn, id)? {
        Some(m) if m.channel_id == s.id && m.is_live_message() => Ok(m),
        _ => not_found("message in this stream"),
    }
}

/// The poll `id` of stream `s`, not deleted.
fn poll_in(conn: &mut DbConnection, s: &Stream, id: MessageId) -> OpResult<super::polls::Poll> {
    match super::polls::get(conn, id)? {
        Some(p) if p.tally.stream_id == s.id => Ok(p),
        _ => not_found("poll in this stream"),
    }
}

/// Whether `me` may manage `s`: an admin, an owner of it, or (a thread) of its parent.
fn manager(conn: &mut DbConnection, s: &Stream, me: UserId, actor: &Actor) -> OpResult<()> {
    if actor.admin || streams::role_of(conn, s.id, me)?.as_deref() == Some("owner") {
        return Ok(());
    }
    if let Some(parent) = s.parent_stream_id {
        if streams::role_of(conn, parent, me)?.as_deref() == Some("owner") {
            return Ok(());
        }
    }
    refuse(Refusal::Forbidden(
        "only an owner of the stream or an admin may do this".into(),
    ))
}

/// Appends one event that is not a message; it takes the next cursor.
#[allow(clippy::too_many_arguments)]
fn append(
    conn: &mut DbConnection,
    tx: &mut Tx,
    stream: &Stream,
    actor: UserId,
    kind: EventType,
    payload: serde_json::Map<String, serde_json::Value>,
    target: Option<MessageId>,
    text: &str,
) -> OpResult<MessageId> {
    let id = next_id(tx.rows, tx.last_before);
    let payload = (!payload.is_empty()).then(|| serde_json::Value::Object(payload).to_string());
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(id),
            messages::channel_id.eq(stream.id),
            messages::private.eq(stream.private),
            messages::user_id.eq(actor),
            messages::text.eq(text),
            messages::sent_at.eq(tx.now),
            messages::kind.eq(kind.as_str()),
            messages::payload.eq(payload),
            messages::target_id.eq(target),
        ))
        .execute(conn)?;
    tx.rows.push(Inserted {
        id,
        channel_id: stream.id,
        user_id: actor,
        sent_at: tx.now,
        counts: false,
        public: false,
    });
    Ok(id)
}

/// Moves a stream's change cursor to `event`: what it is changed (created, renamed,
/// resolved, promoted, archived), so the `workspace` views send it (its members' too).
fn touch_stream(conn: &mut DbConnection, stream: ChannelId, event: MessageId) -> QueryResult<()> {
    diesel::update(channels::table.find(stream))
        .set(channels::last_message_id.eq(event))
        .execute(conn)?;
    people::touch_members(conn, stream, event)
}

/// Moves a stream's and (a public stream's) a user's change cursor to `event`, so count
/// views send them.
fn touch(conn: &mut DbConnection, stream: &Stream, user: UserId, event: MessageId) -> QueryResult<()> {
    touch_stream(conn, stream.id, event)?;
    if !stream.private {
        diesel::update(users::table.find(user))
            .set(users::last_message_id.eq(event))
            .execute(conn)?;
    }
    Ok(())
}

fn create(
    conn: &mut DbConnection,
    tx: &mut Tx,
    me: UserId,
    kind: StreamKind,
    name: &str,
    description: Option<&str>,
    private: bool,
) -> OpResult<OpOutcome> {
    let key = match kind {
        // A private channel's slug is its title: its key meets no public name.
        StreamKind::Channel if private => format!("~new-{}-{}", tx.now, tx.rows.len()),
        StreamKind::Channel => {
            if channels::table
                .filter(channels::name.eq(name))
                .count()
                .get_result::<i64>(conn)?
                > 0
            {
                return refuse(Refusal::Conflict(format!("a stream named `{name}` exists")));
            }
            name.to_owned()
        }
        // Replaced by `~<id>` once the row has its id; unique meanwhile (every change
        // before this one in the transaction added a row).
        StreamKind::Incident => format!("~new-{}-{}", tx.now, tx.rows.len()),
        StreamKind::Thread | StreamKind::Dm => {
            return refuse(Refusal::Invalid(format!(
                "a {} cannot be created here (a thread is branched from an event)",
                kind.as_str()
            )))
        }
    };
    let title = (kind != StreamKind::Channel || private).then_some(name);
    let s = insert_stream(conn, tx, &key, kind, title, description, private)?;
    let my_name: String = users::table.find(me).select(users::username).first(conn)?;
    join(conn, tx, me, &my_name, &s, "owner", None)
}

/// Inserts a stream under a temporary key `key` (given `~<id>` once it has its id, unless
/// it is a public channel's slug), and reads it back.
fn insert_stream(
    conn: &mut DbConnection,
    tx: &Tx,
    key: &str,
    kind: StreamKind,
    title: Option<&str>,
    description: Option<&str>,
    private: bool,
) -> OpResult<Stream> {
    diesel::insert_into(channels::table)
        .values((
            channels::name.eq(key),
            channels::kind.eq(kind.as_str()),
            channels::title.eq(title),
            channels::description.eq(description),
            channels::created_at.eq(tx.now),
            channels::private.eq(private),
            channels::visibility.eq(if private { "private" } else { "public" }),
        ))
        .execute(conn)?;
    let id: ChannelId = channels::table
        .filter(channels::name.eq(key))
        .select(channels::id)
        .first(conn)?;
    if key.starts_with("~new-") {
        diesel::update(channels::table.find(id))
            .set(channels::name.eq(streams::unnamed_key(id)))
            .execute(conn)?;
    }
    if private {
        diesel::update(channels::table.find(id))
            .set(channels::access_id.eq(id))
            .execute(conn)?;
    }
    Ok(streams::stream_by_id(conn, id)?.expect("just inserted"))
}

/// The DM of `me` and `others`: the one they have, or a new one with exactly them.
fn dm(conn: &mut DbConnection, tx: &mut Tx, me: UserId, my_name: &str, others: &[String]) -> OpResult<OpOutcome> {
    let mut people: Vec<(UserId, String)> = vec![(me, my_name.to_owned())];
    for name in others {
        let id = find_or_create_user(conn, &mut tx.names.users, name, None)?;
        if !people.iter().any(|(p, _)| *p == id) {
            people.push((id, name.clone()));
        }
    }
    if people.len() < 2 {
        return refuse(Refusal::Invalid(
            "a DM is between you and at least one other person".into(),
        ));
    }
    if people.len() > crate::domain::DM_MEMBERS_MAX {
        return refuse(Refusal::Invalid(format!(
            "a DM has at most {} people",
            crate::domain::DM_MEMBERS_MAX
        )));
    }
    people.sort();
    // The set of people is the DM's key: the same set finds the same DM.
    let key = format!(
        "~dm:{}",
        people
            .iter()
            .map(|(id, _)| id.0.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let existing: Option<ChannelId> = channels::table
        .filter(channels::name.eq(&key))
        .select(channels::id)
        .first(conn)
        .optional()?;
    if let Some(id) = existing {
        return Ok(OpOutcome {
            stream: id,
            event: None,
            created: false,
            row: None,
        });
    }
    let mut names: Vec<&str> = people.iter().map(|(_, n)| n.as_str()).collect();
    names.sort_unstable();
    let title = names.join(", ");
    let s = insert_stream(conn, tx, &key, StreamKind::Dm, Some(&title), None, true)?;
    let mut last = None;
    for (id, name) in &people {
        let added_by = (*id != me).then_some(my_name);
        last = join(conn, tx, *id, name, &s, "member", added_by)?.event;
    }
    let last = last.expect("every person of a new DM joins it");
    Ok(OpOutcome {
        stream: s.id,
        event: Some(last),
        created: true,
        row: None,
    })
}

/// Adds `user` to `s` with `role` and logs `member_joined`; a member already is answered
/// with no event.
fn join(
    conn: &mut DbConnection,
    tx: &mut Tx,
    user: UserId,
    name: &str,
    stream: &Stream,
    role: &str,
    added_by: Option<&str>,
) -> OpResult<OpOutcome> {
    if streams::role_of(conn, stream.id, user)?.is_some() {
        return Ok(OpOutcome {
            stream: stream.id,
            event: None,
            created: false,
            row: None,
        });
    }
    let mut payload = json(&[("user", name.into())]);
    if let Some(by) = added_by {
        payload.insert("added_by".into(), by.into());
    }
    let event = append(conn, tx, stream, user, EventType::MemberJoined, payload, None, "")?;
    add_member(conn, stream.id, user, role, tx.now, event)?;
    // Its members changed: their `workspace` views (the new one's first) send its state.
    touch_stream(conn, stream.id, event)?;
    done(stream.id, event, true)
}

/// Makes `user` a member of `stream` as of `event`: what was before it counts as read, and
/// their devices hear of it (`me`: `member_added`; `workspace`: the stream).
fn add_member(
    conn: &mut DbConnection,
    stream: ChannelId,
    user: UserId,
    role: &str,
    now: i64,
    event: MessageId,
) -> OpResult<()> {
    diesel::insert_into(stream_members::table)
        .values((
            stream_members::stream_id.eq(stream),
            stream_members::user_id.eq(user),
            stream_members::role.eq(role),
            stream_members::joined_at.eq(now),
            stream_members::last_read_id.eq(event),
            stream_members::badge_id.eq(event),
        ))
        .execute(conn)?;
    people::add_to_inbox(conn, user, event, Inbox::MemberAdded, stream, event)?;
    Ok(())
}

fn update(
    conn: &mut DbConnection,
    tx: &mut Tx,
    me: UserId,
    s: &Stream,
    name: Option<&str>,
    description: Option<&str>,
    status: Option<StreamStatus>,
) -> OpResult<OpOutcome> {
    let mut changed = serde_json::Map::new();
    if let Some(name) = name.filter(|n| Some(*n) != s.display_name()) {
        if s.kind() == StreamKind::Channel && !s.private {
            rename_channel(conn, s.id, name)?;
        } else {
            diesel::update(channels::table.find(s.id))
                .set(channels::title.eq(name))
                .execute(conn)?;
        }
        changed.insert("name".into(), name.into());
    }
    if let Some(d) = description.filter(|d| Some(*d) != s.description.as_deref()) {
        diesel::update(channels::table.find(s.id))
            .set(channels::description.eq(d))
            .execute(conn)?;
        changed.insert("description".into(), d.into());
    }
    if let Some(st) = status.filter(|st| *st != s.status()) {
        if st == StreamStatus::Archived {
            return refuse(Refusal::Invalid("archive a stream with DELETE".into()));
        }
        if st == StreamStatus::Resolved && s.kind() != StreamKind::Incident {
            return refuse(Refusal::Conflict("only an incident can be resolved".into()));
        }
        diesel::update(channels::table.find(s.id))
            .set(channels::status.eq(st.as_str()))
            .execute(conn)?;
        changed.insert("status".into(), st.as_str().into());
    }
    if changed.is_empty() {
        return Ok(OpOutcome {
            stream: s.id,
            event: None,
            created: false,
            row: None,
        });
    }
    let event = append(conn, tx, s, me, EventType::StreamUpdated, changed, None, "")?;
    touch_stream(conn, s.id, event)?;
    done(s.id, event, true)
}

/// Gives a channel the slug `name`, unless another stream has it.
fn rename_channel(conn: &mut DbConnection, id: ChannelId, name: &str) -> OpResult<()> {
    let taken = channels::table
        .filter(channels::name.eq(name))
        .filter(channels::id.ne(id))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if taken {
        return refuse(Refusal::Conflict(format!("a stream named `{name}` exists")));
    }
    diesel::update(channels::table.find(id))
        .set(channels::name.eq(name))
        .execute(conn)?;
    Ok(())
}

/// The names a text mentions: `@name`, each once, in order.
pub fn mentions(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let after = &rest[at + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .unwrap_or(after.len());
        // A trailing dot ends a sentence, not the name.
        let name = after[..end].trim_end_matches('.');
        let starts_word = rest[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        if starts_word && crate::domain::valid_name(name) && !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
        rest = &after[end..];
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn post(
    conn: &mut DbConnection,
    tx: &mut Tx,
    me: UserId,
    actor: &Actor,
    stream: ChannelId,
    text: &str,
    client_temp_id: Option<&str>,
    event_id: Option<&str>,
) -> OpResult<OpOutcome> {
    let s = writable(conn, stream, me)?;
    if let Some(key) = event_id {
        let stored: Option<(MessageId, ChannelId)> = messages::table
            .filter(messages::event_id.eq(key))
            .select((messages::id, messages::channel_id))
            .first(conn)
            .optional()?;
        if let Some((id, in_stream)) = stored {
            if in_stream != s.id {
                return refuse(Refusal::Conflict(format!(
                    "event_id `{key}` was posted to another stream"
                )));
            }
            return Ok(OpOutcome {
                stream: s.id,
                event: Some(id),
                created: false,
                row: None,
            });
        }
    }
    let mut payload = serde_json::Map::new();
    let named = mentions(text);
    if !named.is_empty() {
        payload.insert("mentions".into(), named.into());
    }
    if let Some(t) = client_temp_id {
        payload.insert("client_temp_id".into(), t.into());
    }
    let payload = (!payload.is_empty()).then(|| serde_json::Value::Object(payload).to_string());
    let message = NewMessage {
        channel: s.name.clone(),
        user: actor.name.clone(),
        text: text.to_owned(),
        sent_at: tx.now,
        tags: None,
        display_name: None,
        event_id: event_id.map(str::to_owned),
    };
    let row = NewRow {
        message: &message,
        channel_id: s.id,
        user_id: me,
        payload: payload.as_deref(),
        private: s.private,
    };
    insert_rows(conn, std::slice::from_ref(&row), tx.last_before, tx.rows)?;
    let id = tx.rows.last().map(|r| r.id).expect("a row was just inserted");
    for user in people::notified(conn, &s, &mentions(text), me)? {
        people::mention(conn, s.id, id, user, id)?;
    }
    done(s.id, id, true)
}

/// Whether the row `id` was inserted by this transaction (its search entry is written at
/// the end of it, from the row as it is then).
fn inserted_here(tx: &Tx, id: MessageId) -> bool {
    id > tx.last_before
}

fn edit(
    conn: &mut DbConnection,
    tx: &mut Tx,
    me: UserId,
    s: &Stream,
    target: &Message,
    text: &str,
) -> OpResult<OpOutcome> {
    let searched = !inserted_here(tx, target.id) && !target.private;
    if searched {
        super::search::unindex(conn, target)?;
    }
    let mut payload = target.payload();
    let before = people::mentioned(conn, target.id)?;
    let named = mentions(text);
    if named.is_empty() {
        payload.remove("mentions");
    } else {
        payload.insert("mentions".into(), named.clone().into());
    }
    let payload = (!payload.is_empty()).then(|| serde_json::Value::Object(payload).to_string());
    diesel::update(messages::table.find(target.id))
        .set((
            messages::text.eq(text),
            messages::edited_at.eq(tx.now),
            messages::payload.eq(payload),
        ))
        .execute(conn)?;
    if searched {
        super::search::index(conn, target, text)?;
    }
    let event = append(
        conn,
        tx,
        s,
        me,
        EventType::EventEdited,
        Default::default(),
        Some(target.id),
        text,
    )?;
    // Whom the message mentions now: a name taken out withdraws its notification, a name
    // put in notifies (as of the edit).
    let after = people::notified(conn, s, &named, target.user_id)?;
    for user in before.iter().filter(|u| !after.contains(u)) {
        people::unmention(conn, s.id, target.id, *user, event)?;
    }
    for user in after.iter().filter(|u| !before.contains(u)) {
        people::mention(conn, s.id, target.id, *user, event)?;
    }
    done(s.id, event, true)
}

fn delete(conn: &mut DbConnection, tx: &mut Tx, me: UserId, s: &Stream, target: &Message) -> OpResult<OpOutcome> {
    // Only a message counts (and is searched); a poll's votes and a file's bytes go with it.
    let counted = target.event_type() == EventType::Message && !inserted_here(tx, target.id);
    match target.event_type() {
        EventType::Poll => super::polls::remove(conn, target.id)?,
        EventType::File => super::files::remove(conn, target.id)?,
        _ => {}
    }
    if counted && !target.private {
        super::search::unindex(conn, target)?;
    }
    diesel::update(messages::table.find(target.id))
        .set((messages::text.eq(""), messages::deleted.eq(true)))
        .execute(conn)?;
    let payload = json(&[("target_user", target.user.clone().into())]);
    let event = append(conn, tx, s, me, EventType::EventDeleted, payload, Some(target.id), "")?;
    // The message stops counting where it counted. A message of this same transaction is
    // not counted yet: the end of the transaction counts what is left (marked last, once
    // nothing here can fail any more).
    if counted {
        diesel::update(channels::table.find(s.id))
            .set(channels::total_messages.eq(channels::total_messages - 1))
            .execute(conn)?;
        let minute = super::minutes::minute_of(target.sent_at);
        // A private message counted for its stream only.
        let pair = if target.private {
            super::minutes::PairDeltas::new()
        } else {
            diesel::update(users::table.find(target.user_id))
                .set(users::total_messages.eq(users::total_messages - 1))
                .execute(conn)?;
            diesel::update(meta::table.filter(meta::id.eq(1)))
                .set(meta::total_messages.eq(meta::total_messages - 1))
                .execute(conn)?;
            super::minutes::PairDeltas::from([((s.id.0, target.user_id.0, minute), -1)])
        };
        super::minutes::apply(conn, &super::minutes::Deltas::from([((s.id.0, minute), -1)]), &pair)?;
    }
    people::uncount(conn, s.id, target.id, target.user_id, counted, event)?;
    touch(conn, s, target.user_id, event)?;
    if let Some(row) = tx.rows.iter_mut().find(|r| r.id == target.id) {
        row.counts = false;
        row.public = false;
    }
    done(s.id, event, true)
}

fn thread(conn: &mut DbConnection, tx: &mut Tx, me: UserId, parent: &Stream, from: &Message) -> OpResult<OpOutcome> {
    let key = format!("~new-{}", from.id);
    // A thread is as private as its parent, and seen by the same people.
    diesel::insert_into(channels::table)
        .values((
            channels::name.eq(&key),
            channels::kind.eq(StreamKind::Thread.as_str()),
            channels::visibility.eq("inherit"),
            channels::parent_stream_id.eq(parent.id),
            channels::branched_from_event_id.eq(from.id),
            channels::created_at.eq(tx.now),
            channels::private.eq(parent.private),
            channels::access_id.eq(parent.access_id),
        ))
        .execute(conn)?;
    let id: ChannelId = channels::table
        .filter(channels::name.eq(&key))
        .select(channels::id)
        .first(conn)?;
    diesel::update(channels::table.find(id))
        .set(channels::name.eq(streams::unnamed_key(id)))
        .execute(conn)?;
    let payload = json(&[
        ("thread_stream_id", id.0.into()),
        ("branched_from_event_id", from.id.0.into()),
    ]);
    let event = append(
        conn,
        tx,
        parent,
        me,
        EventType::ThreadStarted,
        payload,
        Some(from.id),
        "",
    )?;
    add_member(conn, id, me, "owner", tx.now, event)?;
    touch_stream(conn, id, event)?;
    Ok(OpOutcome {
        stream: id,
        event: None,
        created: true,
        row: None,
    })
}

fn promote(
    conn: &mut DbConnection,
    tx: &mut Tx,
    me: UserId,
    actor: &Actor,
    s: &Stream,
    kind: StreamKind,
    name: &str,
) -> OpResult<OpOutcome> {
    match kind {
        // A private thread stays private (its people are still its parent's): its slug is
        // its title, as for any private channel.
        StreamKind::Channel if s.private => {
            diesel::update(channels::table.find(s.id))
                .set(channels::title.eq(name))
                .execute(conn)?;
        }
        StreamKind::Channel => {
            rename_channel(conn, s.id, name)?;
            diesel::update(meta::table.filter(meta::id.eq(1)))
                .set(meta::total_channels.eq(meta::total_channels + 1))
                .execute(conn)?;
        }
        StreamKind::Incident => {
            diesel::update(channels::table.find(s.id))
                .set(channels::title.eq(name))
                .execute(conn)?;
        }
        StreamKind::Thread | StreamKind::Dm => {
            return refuse(Refusal::Invalid(
                "a thread is promoted to a channel or an incident".into(),
            ))
        }
    }
    diesel::update(channels::table.find(s.id))
        .set((
            channels::kind.eq(kind.as_str()),
            channels::visibility.eq(if s.private { "private" } else { "public" }),
            channels::promoted_at.eq(tx.now),
            channels::promoted_by.eq(&actor.name),
        ))
        .execute(conn)?;
    let payload = json(&[
        ("from_kind", s.kind.clone().into()),
        ("to_kind", kind.as_str().into()),
        ("name", name.into()),
    ]);
    let event = append(conn, tx, s, me, EventType::StreamPromoted, payload, None, "")?;
    touch_stream(conn, s.id, event)?;
    done(s.id, event, true)
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn mentions_are_names_after_an_at_sign() {
        assert_eq!(mentions("@alice and @bob.smith, ping @alice."), ["alice", "bob.smith"]);
        assert_eq!(mentions("mail me at x@example.com"), Vec::<String>::new());
        assert_eq!(mentions("@ @@ @!"), Vec::<String>::new());
        assert_eq!(mentions("(@carol)"), ["carol"]);
    }
}
