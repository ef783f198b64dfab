//! Changes to streams (PROTOCOL.md section 8), each run by the write path in its own
//! savepoint of a group commit, like an ingest request: every event it adds takes the next
//! cursor, and a refused change (a rule broken) rolls back and leaves nothing behind.
use diesel::prelude::*;

use super::ids::{ChannelId, MessageId, UserId};
use super::messages::{EventType, Message, NewMessage};
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
        /// A channel's slug; an incident's title.
        name: String,
        description: Option<String>,
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
            kind,
            name,
            description,
        } => create(conn, tx, me, *kind, name, description.as_deref()),
        StreamOp::Update {
            stream,
            name,
            description,
            status,
        } => {
            let s = writable(conn, *stream)?;
            manager(conn, &s, me, actor)?;
            update(conn, tx, me, &s, name.as_deref(), description.as_deref(), *status)
        }
        StreamOp::Archive { stream } => {
            let s = writable(conn, *stream)?;
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
                s.id,
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
            let s = writable(conn, *stream)?;
            let target = message_in(conn, &s, *event)?;
            if target.user_id != me {
                return refuse(Refusal::Forbidden("only its author may edit a message".into()));
            }
            edit(conn, tx, me, &s, &target, text)
        }
        StreamOp::Delete { stream, event } => {
            let s = writable(conn, *stream)?;
            let target = message_in(conn, &s, *event)?;
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
        StreamOp::Thread { stream, event } => {
            let s = writable(conn, *stream)?;
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
            let s = writable(conn, *stream)?;
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
            let s = writable(conn, *stream)?;
            let original = match streams::event_by_id(conn, *event)? {
                Some(m) if m.is_live_message() => m,
                _ => return not_found("message to share"),
            };
            let mut payload = serde_json::Map::new();
            payload.insert("original_event_id".into(), original.id.0.into());
            payload.insert("original_stream_id".into(), original.channel_id.0.into());
            payload.insert("context".into(), context.clone().into());
            let id = append(
                conn,
                tx,
                s.id,
                me,
                EventType::Shared,
                payload,
                Some(original.id),
                &original.text,
            )?;
            done(s.id, id, true)
        }
        StreamOp::Join { stream } => {
            let s = writable(conn, *stream)?;
            join(conn, tx, me, &actor.name, s.id, "member", None)
        }
        StreamOp::Leave { stream } => {
            let s = writable(conn, *stream)?;
            let removed = diesel::delete(stream_members::table.find((s.id, me))).execute(conn)?;
            if removed == 0 {
                return refuse(Refusal::Conflict("you are not a member of this stream".into()));
            }
            let event = append(
                conn,
                tx,
                s.id,
                me,
                EventType::MemberLeft,
                json(&[("user", actor.name.clone().into())]),
                None,
                "",
            )?;
            done(s.id, event, true)
        }
        StreamOp::AddMember { stream, user } => {
            let s = writable(conn, *stream)?;
            if streams::role_of(conn, s.id, me)?.is_none() && !actor.admin {
                return refuse(Refusal::Forbidden("only a member may add members".into()));
            }
            let them = find_or_create_user(conn, &mut tx.names.users, user, None)?;
            join(conn, tx, them, user, s.id, "member", Some(&actor.name))
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

/// The stream, if it exists and takes changes (not archived).
fn writable(conn: &mut DbConnection, id: ChannelId) -> OpResult<Stream> {
    match streams::stream_by_id(conn, id)? {
        None => not_found("stream"),
        Some(s) if s.status() == StreamStatus::Archived => {
            refuse(Refusal::Conflict("the stream is archived: it takes no changes".into()))
        }
        Some(s) => Ok(s),
    }
}

/// The message `id` of stream `s`, not deleted.
fn message_in(conn: &mut DbConnection, s: &Stream, id: MessageId) -> OpResult<Message> {
    match streams::event_by_id(conn, id)? {
        Some(m) if m.channel_id == s.id && m.is_live_message() => Ok(m),
        _ => not_found("message in this stream"),
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
    stream: ChannelId,
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
            messages::channel_id.eq(stream),
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
        channel_id: stream,
        user_id: actor,
        sent_at: tx.now,
        counts: false,
    });
    Ok(id)
}

/// Moves a stream's change cursor to `event`: what it is changed (created, renamed,
/// resolved, promoted, archived), so the `workspace` view sends it.
fn touch_stream(conn: &mut DbConnection, stream: ChannelId, event: MessageId) -> QueryResult<()> {
    diesel::update(channels::table.find(stream))
        .set(channels::last_message_id.eq(event))
        .execute(conn)
        .map(drop)
}

/// Moves a stream's and a user's change cursor to `event`, so count views send them.
fn touch(conn: &mut DbConnection, stream: ChannelId, user: UserId, event: MessageId) -> QueryResult<()> {
    diesel::update(channels::table.find(stream))
        .set(channels::last_message_id.eq(event))
        .execute(conn)?;
    diesel::update(users::table.find(user))
        .set(users::last_message_id.eq(event))
        .execute(conn)?;
    Ok(())
}

fn create(
    conn: &mut DbConnection,
    tx: &mut Tx,
    me: UserId,
    kind: StreamKind,
    name: &str,
    description: Option<&str>,
) -> OpResult<OpOutcome> {
    let key = match kind {
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
                "a {} cannot be created here (a thread is branched from an event; direct messages are not built yet)",
                kind.as_str()
            )))
        }
    };
    let title = (kind != StreamKind::Channel).then_some(name);
    diesel::insert_into(channels::table)
        .values((
            channels::name.eq(&key),
            channels::kind.eq(kind.as_str()),
            channels::title.eq(title),
            channels::description.eq(description),
            channels::created_at.eq(tx.now),
        ))
        .execute(conn)?;
    let id: ChannelId = channels::table
        .filter(channels::name.eq(&key))
        .select(channels::id)
        .first(conn)?;
    if kind != StreamKind::Channel {
        diesel::update(channels::table.find(id))
            .set(channels::name.eq(streams::unnamed_key(id)))
            .execute(conn)?;
    }
    let my_name: String = users::table.find(me).select(users::username).first(conn)?;
    let joined = join(conn, tx, me, &my_name, id, "owner", None)?;
    if let Some(event) = joined.event {
        touch_stream(conn, id, event)?;
    }
    Ok(joined)
}

/// Adds `user` to `s` with `role` and logs `member_joined`; a member already is answered
/// with no event.
fn join(
    conn: &mut DbConnection,
    tx: &mut Tx,
    user: UserId,
    name: &str,
    stream: ChannelId,
    role: &str,
    added_by: Option<&str>,
) -> OpResult<OpOutcome> {
    if streams::role_of(conn, stream, user)?.is_some() {
        return Ok(OpOutcome {
            stream,
            event: None,
            created: false,
            row: None,
        });
    }
    diesel::insert_into(stream_members::table)
        .values((
            stream_members::stream_id.eq(stream),
            stream_members::user_id.eq(user),
            stream_members::role.eq(role),
            stream_members::joined_at.eq(tx.now),
        ))
        .execute(conn)?;
    let mut payload = json(&[("user", name.into())]);
    if let Some(by) = added_by {
        payload.insert("added_by".into(), by.into());
    }
    let event = append(conn, tx, stream, user, EventType::MemberJoined, payload, None, "")?;
    done(stream, event, true)
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
        if s.kind() == StreamKind::Channel {
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
    let event = append(conn, tx, s.id, me, EventType::StreamUpdated, changed, None, "")?;
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
    let s = writable(conn, stream)?;
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
    };
    insert_rows(conn, std::slice::from_ref(&row), tx.last_before, tx.rows)?;
    let id = tx.rows.last().map(|r| r.id).expect("a row was just inserted");
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
    if !inserted_here(tx, target.id) {
        super::search::unindex(conn, target.id, &target.text)?;
    }
    let mut payload = target.payload();
    let named = mentions(text);
    if named.is_empty() {
        payload.remove("mentions");
    } else {
        payload.insert("mentions".into(), named.into());
    }
    let payload = (!payload.is_empty()).then(|| serde_json::Value::Object(payload).to_string());
    diesel::update(messages::table.find(target.id))
        .set((
            messages::text.eq(text),
            messages::edited_at.eq(tx.now),
            messages::payload.eq(payload),
        ))
        .execute(conn)?;
    if !inserted_here(tx, target.id) {
        super::search::index(conn, target.id, text)?;
    }
    let event = append(
        conn,
        tx,
        s.id,
        me,
        EventType::EventEdited,
        Default::default(),
        Some(target.id),
        text,
    )?;
    done(s.id, event, true)
}

fn delete(conn: &mut DbConnection, tx: &mut Tx, me: UserId, s: &Stream, target: &Message) -> OpResult<OpOutcome> {
    if !inserted_here(tx, target.id) {
        super::search::unindex(conn, target.id, &target.text)?;
    }
    diesel::update(messages::table.find(target.id))
        .set((messages::text.eq(""), messages::deleted.eq(true)))
        .execute(conn)?;
    let payload = json(&[("target_user", target.user.clone().into())]);
    let event = append(
        conn,
        tx,
        s.id,
        me,
        EventType::EventDeleted,
        payload,
        Some(target.id),
        "",
    )?;
    // The message stops counting where it counted. A message of this same transaction is
    // not counted yet: the end of the transaction counts what is left (marked last, once
    // nothing here can fail any more).
    if !inserted_here(tx, target.id) {
        diesel::update(channels::table.find(s.id))
            .set(channels::total_messages.eq(channels::total_messages - 1))
            .execute(conn)?;
        diesel::update(users::table.find(target.user_id))
            .set(users::total_messages.eq(users::total_messages - 1))
            .execute(conn)?;
        diesel::update(meta::table.filter(meta::id.eq(1)))
            .set(meta::total_messages.eq(meta::total_messages - 1))
            .execute(conn)?;
        let minute = super::minutes::minute_of(target.sent_at);
        let one = |id: i64| super::minutes::Deltas::from([((id, minute), -1)]);
        super::minutes::apply(conn, &one(s.id.0), &one(target.user_id.0))?;
    }
    touch(conn, s.id, target.user_id, event)?;
    if let Some(row) = tx.rows.iter_mut().find(|r| r.id == target.id) {
        row.counts = false;
    }
    done(s.id, event, true)
}

fn thread(conn: &mut DbConnection, tx: &mut Tx, me: UserId, parent: &Stream, from: &Message) -> OpResult<OpOutcome> {
    let key = format!("~new-{}", from.id);
    diesel::insert_into(channels::table)
        .values((
            channels::name.eq(&key),
            channels::kind.eq(StreamKind::Thread.as_str()),
            channels::visibility.eq("inherit"),
            channels::parent_stream_id.eq(parent.id),
            channels::branched_from_event_id.eq(from.id),
            channels::created_at.eq(tx.now),
        ))
        .execute(conn)?;
    let id: ChannelId = channels::table
        .filter(channels::name.eq(&key))
        .select(channels::id)
        .first(conn)?;
    diesel::update(channels::table.find(id))
        .set(channels::name.eq(streams::unnamed_key(id)))
        .execute(conn)?;
    diesel::insert_into(stream_members::table)
        .values((
            stream_members::stream_id.eq(id),
            stream_members::user_id.eq(me),
            stream_members::role.eq("owner"),
            stream_members::joined_at.eq(tx.now),
        ))
        .execute(conn)?;
    let payload = json(&[
        ("thread_stream_id", id.0.into()),
        ("branched_from_event_id", from.id.0.into()),
    ]);
    let event = append(
        conn,
        tx,
        parent.id,
        me,
        EventType::ThreadStarted,
        payload,
        Some(from.id),
        "",
    )?;
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
            channels::visibility.eq("public"),
            channels::promoted_at.eq(tx.now),
            channels::promoted_by.eq(&actor.name),
        ))
        .execute(conn)?;
    let payload = json(&[
        ("from_kind", s.kind.clone().into()),
        ("to_kind", kind.as_str().into()),
        ("name", name.into()),
    ]);
    let event = append(conn, tx, s.id, me, EventType::StreamPromoted, payload, None, "")?;
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
