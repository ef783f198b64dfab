//! The write path: one transaction per group commit, each request in its own savepoint.
//! Rows go in as multi-row INSERTs; the FTS mirror and the channel, user and total counts
//! are then brought up to date once for the whole transaction, inside it, so they always
//! equal what `COUNT(*)` would say (of public messages: a private one counts for its
//! stream only), and so do the members' unread badges. The transaction is the only writer
//! of the database while it runs (SQLite's write lock; an advisory lock on PostgreSQL), so
//! its rows get the next ids, densely, in commit order.
use std::collections::HashMap;
use std::hash::Hash;

use diesel::prelude::*;

use super::channels::{self, find_or_create_channel, Channel};
use super::ids::{ChannelId, MessageId, UserId};
use super::messages::{self, Message, NewMessage};
use super::meta::{self, Totals};
use super::schema::messages as messages_table;
use super::stream_ops::{self, Actor, OpOutcome, StreamOp, Tx};
use super::users::{self, find_or_create_user, User};
use super::{minutes, people};
use super::{postgres, sqlite, transaction, Begin, DbConnection, Store, StoreError, StoreResult};

/// Rows per multi-row INSERT: at most 7 bound values each, well under SQLite's 32,766 and
/// PostgreSQL's 65,535.
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
    /// Members' read state and badges the commit changed (PROTOCOL.md section 8).
    pub badges: Vec<people::Badge>,
    /// What it did that concerns one person (mentions, memberships, read cursors).
    pub inbox: Vec<people::InboxEntry>,
    /// The public messages its deletes took out (the top lists subtract them).
    pub removed: Vec<super::top::Removed>,
    /// Poll tallies it changed (a stream view pushes them merged).
    pub polls: Vec<super::polls::Tally>,
}

/// One request of a group commit: an ingest request's messages, or a change to a stream.
#[derive(Debug, Clone)]
pub enum Write {
    Messages(Vec<NewMessage>),
    Stream(Actor, StreamOp),
}

/// What one request of a group commit got back.
#[derive(Debug, Clone)]
pub enum Done {
    Messages(RequestOutcome),
    /// Boxed: it carries the committed event row.
    Stream(Box<OpOutcome>),
}

impl Store {
    /// [`Store::commit`] of ingest requests only.
    pub fn insert_batches(
        &self,
        batches: &[Vec<NewMessage>],
    ) -> StoreResult<(Vec<StoreResult<RequestOutcome>>, Committed)> {
        let writes: Vec<Write> = batches.iter().cloned().map(Write::Messages).collect();
        let (outcomes, committed) = self.commit(&writes)?;
        let outcomes = outcomes
            .into_iter()
            .map(|o| match o? {
                Done::Messages(m) => Ok(m),
                Done::Stream(_) => unreachable!("only messages were written"),
            })
            .collect();
        Ok((outcomes, committed))
    }

    /// Runs every request in one transaction, each in its own savepoint so one failing
    /// request cannot take the others with it.
    pub fn commit(&self, writes: &[Write]) -> StoreResult<(Vec<StoreResult<Done>>, Committed)> {
        let mut conn = self.conn()?;
        let now = crate::time::now_ms();
        transaction(&mut conn, Begin::Write, |conn| {
            // Read under the write lock: no other writer can commit a row past it.
            let last_before = meta::last_id(conn)?;
            let mut names = Names::default();
            let mut rows = Vec::new();
            let outcomes = writes
                .iter()
                .map(|write| {
                    let mut request_names = names.clone();
                    let before = rows.len();
                    let result = match write {
                        Write::Messages(batch) => conn
                            .transaction(|conn| insert_request(conn, batch, last_before, &mut request_names, &mut rows))
                            .map(Done::Messages)
                            .map_err(StoreError::from),
                        Write::Stream(actor, op) => conn
                            .transaction(|conn| {
                                let mut tx = Tx {
                                    rows: &mut rows,
                                    last_before,
                                    names: &mut request_names,
                                    now,
                                };
                                stream_ops::apply(conn, &mut tx, actor, op)
                            })
                            .map(|o| Done::Stream(Box::new(o)))
                            .map_err(StoreError::from),
                    };
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
            // A change that logged its event answers with it as committed: no read-back.
            let outcomes = outcomes
                .into_iter()
                .map(|o| match o {
                    Ok(Done::Stream(mut op)) if op.created => {
                        op.row = op.event.and_then(|id| {
                            let at = committed.messages.binary_search_by_key(&id, |m| m.id).ok()?;
                            Some(committed.messages[at].clone())
                        });
                        Ok(Done::Stream(op))
                    }
                    other => other,
                })
                .collect();
            Ok::<_, diesel::result::Error>((outcomes, committed))
        })
        .map_err(StoreError::from)
    }
}

/// Channel and user ids this transaction has looked up or created, by name.
#[derive(Debug, Clone, Default)]
pub(super) struct Names {
    pub channels: HashMap<String, ChannelId>,
    pub users: HashMap<String, UserId>,
}

/// A message on its way into a row: with the ids of its channel and user.
pub(super) struct NewRow<'a> {
    pub message: &'a NewMessage,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    /// The event's own fields (JSON), `None` for a v1 message.
    pub payload: Option<&'a str>,
    /// In a private stream: counted for its stream only.
    pub private: bool,
}

/// A row this transaction inserted: what the counts and the FTS mirror need of it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inserted {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub sent_at: i64,
    /// A message (counted); any other event only takes its cursor.
    pub counts: bool,
    /// Counted beyond its stream too (its user, the totals, the rollups of everything): a
    /// message in a public stream.
    pub public: bool,
}

/// Where the id a request's message is answered with comes from.
enum Answer {
    /// An earlier message with the same `event_id`.
    Stored(MessageId),
    /// The n-th row this request inserts.
    New(usize),
}

/// Inserts one request's new messages after `rows` (what the transaction inserted so
/// far, after `last_before`, the newest id when it began).
fn insert_request(
    conn: &mut DbConnection,
    batch: &[NewMessage],
    last_before: MessageId,
    names: &mut Names,
    rows: &mut Vec<Inserted>,
) -> QueryResult<RequestOutcome> {
    let mut answers = Vec::with_capacity(batch.len());
    // The rows to insert: each message with its channel and user.
    let mut new: Vec<NewRow> = Vec::with_capacity(batch.len());
    // Event ids this request inserts, so a repeat within it answers the first.
    let mut events: HashMap<&str, usize> = HashMap::new();
    for m in batch {
        if let Some(event_id) = m.event_id.as_deref() {
            if let Some(&n) = events.get(event_id) {
                answers.push(Answer::New(n));
                continue;
            }
            // Race-free across nodes too: no other writer commits while this one runs.
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
        new.push(NewRow {
            message: m,
            channel_id,
            user_id,
            payload: None,
            private: false,
        });
    }
    let first_row = rows.len();
    insert_rows(conn, &new, last_before, rows)?;
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

/// Inserts message rows after `rows` (what the transaction inserted so far, after
/// `last_before`) and records them there.
pub(super) fn insert_rows(
    conn: &mut DbConnection,
    new: &[NewRow],
    last_before: MessageId,
    rows: &mut Vec<Inserted>,
) -> QueryResult<()> {
    for chunk in new.chunks(INSERT_ROWS) {
        // A request rolled back to its savepoint took its rows with it: the next id
        // follows the rows still in the transaction.
        let next_id = next_id(rows, last_before);
        let first = match conn {
            DbConnection::Sqlite(c) => sqlite::insert_messages(c, chunk)?,
            DbConnection::Pg(c) => postgres::insert_messages(c, next_id.0, chunk)?,
        };
        rows.extend(chunk.iter().zip(first..).map(|(r, id)| Inserted {
            id: MessageId(id),
            channel_id: r.channel_id,
            user_id: r.user_id,
            sent_at: r.message.sent_at,
            counts: true,
            public: !r.private,
        }));
    }
    Ok(())
}

/// The id the transaction's next row takes.
pub(super) fn next_id(rows: &[Inserted], last_before: MessageId) -> MessageId {
    MessageId(rows.last().map_or(last_before, |r| r.id).0 + 1)
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

fn activity_by<'a, K: Hash + Eq>(
    rows: impl Iterator<Item = &'a Inserted>,
    key: impl Fn(&Inserted) -> K,
) -> HashMap<K, Activity> {
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

/// Adds the rows to the channel, user, per-minute and total counts (and SQLite's FTS
/// mirror), with one statement each.
fn apply_counts(conn: &mut DbConnection, rows: &[Inserted]) -> QueryResult<()> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(());
    };
    let channels = activity_by(rows.iter().filter(|r| r.counts), |r| r.channel_id);
    let users = activity_by(rows.iter().filter(|r| r.public), |r| r.user_id);
    match conn {
        DbConnection::Sqlite(c) => sqlite::apply_counts(c, first.id, last.id, &channels, &users)?,
        DbConnection::Pg(c) => postgres::apply_counts(c, &channels, &users)?,
    }
    let (mut channel_minutes, mut pair_minutes) = (minutes::Deltas::new(), minutes::PairDeltas::new());
    for r in rows.iter().filter(|r| r.counts) {
        let minute = minutes::minute_of(r.sent_at);
        *channel_minutes.entry((r.channel_id.0, minute)).or_default() += 1;
        if r.public {
            *pair_minutes.entry((r.channel_id.0, r.user_id.0, minute)).or_default() += 1;
        }
    }
    minutes::apply(conn, &channel_minutes, &pair_minutes)?;
    people::count_unread(conn, first.id, last.id)?;
    meta::add_messages(conn, rows.iter().filter(|r| r.public).count() as i64)
}

/// The id of a named row, from the transaction's cache, the table, or a new row.
pub(super) fn find_or_create<Id: Copy>(
    conn: &mut DbConnection,
    cache: &mut HashMap<String, Id>,
    name: &str,
    find: impl FnOnce(&mut DbConnection) -> QueryResult<Option<Id>>,
    create: impl FnOnce(&mut DbConnection) -> QueryResult<Id>,
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

fn read_committed(conn: &mut DbConnection, rows: &[Inserted]) -> QueryResult<Committed> {
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
pub fn committed_between(conn: &mut DbConnection, first: MessageId, last: MessageId) -> QueryResult<Committed> {
    let messages = messages::between(conn, first, last)?;
    Ok(Committed {
        removed: super::top::removed(conn, &messages)?,
        polls: super::polls::between(conn, first, last)?,
        messages,
        channels: channels::changed_between(conn, first, last)?,
        users: users::changed_between(conn, first, last)?,
        totals: meta::totals(conn)?,
        badges: people::badges_between(conn, first, last)?,
        inbox: people::inbox_between(conn, first, last)?,
    })
}
