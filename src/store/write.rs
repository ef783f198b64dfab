//! The write path: one transaction per group commit, each request in its own savepoint.
//! Rows go in as multi-row INSERTs; the FTS mirror and the channel, user and total counts
//! are then brought up to date once for the whole transaction, inside it, so they always
//! equal what `COUNT(*)` would say.
use std::collections::HashMap;
use std::hash::Hash;

use diesel::prelude::*;
use serde::Serialize;

use super::channels::{self, find_or_create_channel, Channel};
use super::ids::{ChannelId, MessageId, UserId};
use super::messages::{self, Message, NewMessage};
use super::meta::{self, Totals};
use super::schema::messages as messages_table;
use super::users::{self, find_or_create_user, User};
use super::{Store, StoreError, StoreResult};

/// Rows per multi-row INSERT: 6 bound values each, well under SQLite's 32,766.
pub const INSERT_ROWS: usize = 1000;

/// What one request of a group commit got back.
#[derive(Debug, Clone)]
pub struct RequestOutcome {
    /// In request order; a duplicate's is the original's.
    pub ids: Vec<MessageId>,
    pub inserted: usize,
    pub duplicates: usize,
}

/// Everything one committed transaction changed, for the live views.
#[derive(Debug, Default)]
pub struct Committed {
    pub messages: Vec<Message>,
    pub channels: Vec<Channel>,
    pub users: Vec<User>,
    pub totals: Totals,
}

impl Store {
    /// Stores each request's messages in one transaction, each request in its own
    /// savepoint so one failing request cannot take the others with it.
    pub fn insert_batches(
        &self,
        batches: &[Vec<NewMessage>],
    ) -> StoreResult<(Vec<StoreResult<RequestOutcome>>, Committed)> {
        let mut conn = self.conn()?;
        conn.immediate_transaction(|conn| {
            let mut names = Names::default();
            let mut rows = Vec::new();
            let outcomes = batches
                .iter()
                .map(|batch| {
                    let mut request_names = names.clone();
                    let before = rows.len();
                    let result = conn
                        .transaction(|conn| insert_request(conn, batch, &mut request_names, &mut rows))
                        .map_err(StoreError::from);
                    // A request rolled back to its savepoint leaves no row and no name behind.
                    if result.is_ok() {
                        names = request_names;
                    } else {
                        rows.truncate(before);
                    }
                    result
                })
                .collect::<Vec<_>>();
            apply_counts(conn, &rows)?;
            let committed = read_committed(conn, &rows)?;
            Ok::<_, diesel::result::Error>((outcomes, committed))
        })
        .map_err(StoreError::from)
    }
}

/// Channel and user ids this transaction has looked up or created, by name.
#[derive(Debug, Clone, Default)]
struct Names {
    channels: HashMap<String, ChannelId>,
    users: HashMap<String, UserId>,
}

/// A row this transaction inserted: what the counts and the FTS mirror need of it.
#[derive(Debug, Clone, Copy)]
struct Inserted {
    id: MessageId,
    channel_id: ChannelId,
    user_id: UserId,
    sent_at: i64,
}

/// Where the id a request's message is answered with comes from.
enum Answer {
    /// An earlier message with the same `event_id`.
    Stored(MessageId),
    /// The n-th row this request inserts.
    New(usize),
}

fn insert_request(
    conn: &mut SqliteConnection,
    batch: &[NewMessage],
    names: &mut Names,
    rows: &mut Vec<Inserted>,
) -> QueryResult<RequestOutcome> {
    let mut answers = Vec::with_capacity(batch.len());
    // The rows to insert: each message with its channel and user.
    let mut new: Vec<(&NewMessage, ChannelId, UserId)> = Vec::with_capacity(batch.len());
    // Event ids this request inserts, so a repeat within it answers the first.
    let mut events: HashMap<&str, usize> = HashMap::new();
    for m in batch {
        if let Some(event_id) = m.event_id.as_deref() {
            if let Some(&n) = events.get(event_id) {
                answers.push(Answer::New(n));
                continue;
            }
            let stored = messages_table::table
                .filter(messages_table::event_id.eq(event_id))
                .select(messages_table::id)
                .first::<MessageId>(conn)
                .optional()?;
            if let Some(id) = stored {
                answers.push(Answer::Stored(id));
                continue;
            }
            events.insert(event_id, new.len());
        }
        let channel_id = find_or_create_channel(conn, &mut names.channels, &m.channel)?;
        let user_id = find_or_create_user(conn, &mut names.users, &m.user, m.display_name.as_deref())?;
        answers.push(Answer::New(new.len()));
        new.push((m, channel_id, user_id));
    }
    let first_row = rows.len();
    for chunk in new.chunks(INSERT_ROWS) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(m, channel_id, user_id)| {
                (
                    messages_table::channel_id.eq(*channel_id),
                    messages_table::user_id.eq(*user_id),
                    messages_table::text.eq(&m.text),
                    messages_table::sent_at.eq(m.sent_at),
                    messages_table::tags.eq(&m.tags),
                    messages_table::event_id.eq(&m.event_id),
                )
            })
            .collect();
        // One row goes through the single-row statement, which diesel prepares once; a
        // multi-row statement is prepared per call, which pays off only for several rows.
        match values.as_slice() {
            [one] => diesel::insert_into(messages_table::table).values(one).execute(conn)?,
            _ => diesel::insert_into(messages_table::table)
                .values(&values)
                .execute(conn)?,
        };
        // One statement under the single writer: its rows have consecutive ids, ending here.
        let last = inserted_id(conn)?;
        let first = last + 1 - chunk.len() as i64;
        rows.extend(
            chunk
                .iter()
                .zip(first..)
                .map(|((m, channel_id, user_id), id)| Inserted {
                    id: MessageId(id),
                    channel_id: *channel_id,
                    user_id: *user_id,
                    sent_at: m.sent_at,
                }),
        );
    }
    let ids: Vec<MessageId> = answers
        .iter()
        .map(|a| match a {
            Answer::Stored(id) => *id,
            Answer::New(n) => rows[first_row + n].id,
        })
        .collect();
    Ok(RequestOutcome {
        inserted: new.len(),
        duplicates: ids.len() - new.len(),
        ids,
    })
}

/// Per channel or user: how many rows, the earliest and latest `sent_at`, and the newest
/// row's id and `sent_at`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Activity {
    pub count: i64,
    pub min_sent: i64,
    pub max_sent: i64,
    pub last_id: MessageId,
    pub last_sent: i64,
}

fn activity_by<K: Hash + Eq>(rows: &[Inserted], key: impl Fn(&Inserted) -> K) -> HashMap<K, Activity> {
    let mut map: HashMap<K, Activity> = HashMap::new();
    // Rows are in id order, so the last one seen is the newest.
    for r in rows {
        map.entry(key(r))
            .and_modify(|a| {
                a.count += 1;
                a.min_sent = a.min_sent.min(r.sent_at);
                a.max_sent = a.max_sent.max(r.sent_at);
                a.last_id = r.id;
                a.last_sent = r.sent_at;
            })
            .or_insert(Activity {
                count: 1,
                min_sent: r.sent_at,
                max_sent: r.sent_at,
                last_id: r.id,
                last_sent: r.sent_at,
            });
    }
    map
}

/// Per-entity activity as the JSON array one UPDATE reads with `json_each`.
pub(super) fn activity_json(value: &impl Serialize) -> QueryResult<String> {
    serde_json::to_string(value).map_err(|e| diesel::result::Error::SerializationError(e.into()))
}

/// Mirrors the rows into FTS and adds them to the channel, user and total counts, with one
/// statement each.
fn apply_counts(conn: &mut SqliteConnection, rows: &[Inserted]) -> QueryResult<()> {
    use diesel::sql_types::BigInt;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(());
    };
    // The single writer gives this transaction's rows consecutive ids: nothing else is in the range.
    diesel::sql_query("INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages WHERE id BETWEEN ? AND ?")
        .bind::<BigInt, _>(first.id)
        .bind::<BigInt, _>(last.id)
        .execute(conn)?;
    channels::add_activity(conn, activity_by(rows, |r| r.channel_id))?;
    users::add_activity(conn, activity_by(rows, |r| r.user_id))?;
    meta::add_messages(conn, rows.len() as i64)
}

diesel::define_sql_function! {
    fn last_insert_rowid() -> diesel::sql_types::BigInt;
}

/// The id of the row the connection's last INSERT created. Inserts use this rather than
/// `RETURNING`, which SQLite implements as a trigger: that makes every INSERT a multi-write
/// statement with its own statement journal, and every page it touches is written to a
/// temporary file once per message.
pub(super) fn inserted_id(conn: &mut SqliteConnection) -> QueryResult<i64> {
    diesel::select(last_insert_rowid()).get_result(conn)
}

/// The id of a named row, from the transaction's cache, the table, or a new row.
pub(super) fn find_or_create<Id: Copy>(
    conn: &mut SqliteConnection,
    cache: &mut HashMap<String, Id>,
    name: &str,
    find: impl FnOnce(&mut SqliteConnection) -> QueryResult<Option<Id>>,
    create: impl FnOnce(&mut SqliteConnection) -> QueryResult<Id>,
) -> QueryResult<Id> {
    if let Some(id) = cache.get(name) {
        return Ok(*id);
    }
    let id = match find(conn)? {
        Some(id) => id,
        None => create(conn)?,
    };
    cache.insert(name.to_owned(), id);
    Ok(id)
}

fn read_committed(conn: &mut SqliteConnection, rows: &[Inserted]) -> QueryResult<Committed> {
    match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => committed_between(conn, first.id, last.id),
        _ => Ok(Committed {
            totals: meta::totals(conn)?,
            ..Default::default()
        }),
    }
}

/// What the commits of `first..=last` changed, as the live views need it: the messages,
/// and the channels and users whose newest message is in the range (the write path sets
/// `last_message_id` of exactly the touched ones; a binding per id would break SQLite's
/// variable limit). Also how another node, or a gap, is caught up from the database.
pub fn committed_between(conn: &mut SqliteConnection, first: MessageId, last: MessageId) -> QueryResult<Committed> {
    Ok(Committed {
        messages: messages::between(conn, first, last)?,
        channels: channels::changed_between(conn, first, last)?,
        users: users::changed_between(conn, first, last)?,
        totals: meta::totals(conn)?,
    })
}
