//! All SQL lives here. Handlers and actors call these typed functions; writes come only
//! from the ingest actor through [`Store::insert_batches`].
pub mod pages;
pub mod schema;
mod search;

use std::collections::HashMap;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use serde::Serialize;

use crate::time::{serialize_ms, serialize_opt_ms};
use schema::{channels, messages, meta, users};
pub use search::{parse_query, InvalidQuery};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
/// How long a connection waits for SQLite's write lock before failing.
pub const BUSY_TIMEOUT_MS: u64 = 5000;

pub type Conn = PooledConnection<ConnectionManager<SqliteConnection>>;

/// Why the store failed. The diesel error is kept whole, for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("no database connection: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot open {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("migrations failed: {0}")]
    Migrations(String),
    /// A group commit failed: every request in it gets the same error.
    #[error("the commit failed: {0}")]
    Commit(std::sync::Arc<StoreError>),
    /// A blocking store task did not finish (its thread panicked or the runtime stopped).
    #[error("a store task was interrupted: {0}")]
    Interrupted(String),
}
pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // synchronous=NORMAL in WAL mode keeps every commit across a process kill (not
        // across power loss). WAL itself is set once, in `Store::open`: it is stored in the file.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA cache_size = -16000;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The database: a pool of connections and the epoch fixed when it was created.
#[derive(Clone)]
pub struct Store {
    pool: Pool<ConnectionManager<SqliteConnection>>,
    epoch: String,
}

impl Store {
    pub fn open(path: &str, pool_size: u32) -> StoreResult<Store> {
        // WAL lets readers run beside the single writer. Switching to it needs the file to
        // itself, so it happens here once, before the pool opens its connections at once.
        let open_error = |reason: String| StoreError::Open {
            path: path.to_owned(),
            reason,
        };
        let mut first = SqliteConnection::establish(path).map_err(|e| open_error(e.to_string()))?;
        first.batch_execute("PRAGMA journal_mode = WAL;")?;
        drop(first);
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Pragmas))
            .build(ConnectionManager::<SqliteConnection>::new(path))
            .map_err(|e| open_error(e.to_string()))?;
        let mut conn = pool.get()?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| StoreError::Migrations(e.to_string()))?;
        let epoch = meta::table.select(meta::epoch).first::<String>(&mut conn)?;
        Ok(Store { pool, epoch })
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub fn conn(&self) -> StoreResult<Conn> {
        Ok(self.pool.get()?)
    }
}

/// A validated message on its way in.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: String,
    pub user: String,
    pub text: String,
    pub sent_at: i64,
    pub tags: Option<String>,
    pub display_name: Option<String>,
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = channels)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub display_name: Option<String>,
    pub total_messages: i64,
    #[serde(serialize_with = "serialize_opt_ms")]
    pub last_message_at: Option<i64>,
    #[serde(skip)]
    pub last_message_id: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: Option<String>,
    pub total_messages: i64,
    #[serde(serialize_with = "serialize_opt_ms")]
    pub first_seen_at: Option<i64>,
    #[serde(serialize_with = "serialize_opt_ms")]
    pub last_seen_at: Option<i64>,
    #[serde(serialize_with = "serialize_opt_ms")]
    pub last_message_at: Option<i64>,
    #[serde(skip)]
    pub last_message_id: i64,
}

/// A stored message with its channel and user names: the message object of the protocol.
#[derive(Debug, Clone, Queryable, Serialize)]
pub struct Message {
    pub id: i64,
    pub channel_id: i64,
    pub channel: String,
    pub user_id: i64,
    pub user: String,
    pub display_name: Option<String>,
    pub text: String,
    #[serde(serialize_with = "serialize_ms")]
    pub sent_at: i64,
    #[serde(serialize_with = "serialize_tags")]
    pub tags: Option<String>,
}

fn serialize_tags<S: serde::Serializer>(tags: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    let value: serde_json::Value = tags
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    value.serialize(s)
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub total_messages: i64,
    pub total_channels: i64,
    pub total_users: i64,
    /// The newest stored message id.
    pub cursor: i64,
}

/// What one request of a group commit got back.
#[derive(Debug, Clone)]
pub struct RequestOutcome {
    pub ids: Vec<i64>,
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

type MessageColumns = (
    messages::id,
    messages::channel_id,
    channels::name,
    messages::user_id,
    users::username,
    users::display_name,
    messages::text,
    messages::sent_at,
    messages::tags,
);
const MESSAGE_COLUMNS: MessageColumns = (
    messages::id,
    messages::channel_id,
    channels::name,
    messages::user_id,
    users::username,
    users::display_name,
    messages::text,
    messages::sent_at,
    messages::tags,
);

/// Which messages a list or a live view wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MessageFilter {
    pub channel_id: Option<i64>,
    pub user_id: Option<i64>,
}

impl Store {
    /// Stores each request's messages in one transaction, each request in its own
    /// savepoint so one failing request cannot take the others with it. The FTS mirror,
    /// the channel, user and total counts are then brought up to date once for the whole
    /// transaction (one statement per touched channel and user), inside it.
    pub fn insert_batches(
        &self,
        batches: &[Vec<NewMessage>],
    ) -> StoreResult<(Vec<StoreResult<RequestOutcome>>, Committed)> {
        let mut conn = self.conn()?;
        conn.immediate_transaction(|conn| {
            let mut channel_ids: HashMap<String, i64> = HashMap::new();
            let mut user_ids: HashMap<String, i64> = HashMap::new();
            let mut rows = Vec::new();
            let outcomes = batches
                .iter()
                .map(|batch| {
                    let mut c = channel_ids.clone();
                    let mut u = user_ids.clone();
                    let before = rows.len();
                    let result = conn
                        .transaction(|conn| insert_request(conn, batch, &mut c, &mut u, &mut rows))
                        .map_err(StoreError::from);
                    if result.is_ok() {
                        channel_ids = c;
                        user_ids = u;
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

/// A row this transaction inserted: what the counts and the FTS mirror need of it.
#[derive(Debug, Clone, Copy)]
struct Inserted {
    id: i64,
    channel_id: i64,
    user_id: i64,
    sent_at: i64,
}

/// Rows per multi-row INSERT: 6 bound values each, well under SQLite's 32,766.
pub const INSERT_ROWS: usize = 1000;

/// Where the id a request's message is answered with comes from.
enum Answer {
    /// An earlier message with the same `event_id`.
    Stored(i64),
    /// The n-th row this request inserts.
    New(usize),
}

fn insert_request(
    conn: &mut SqliteConnection,
    batch: &[NewMessage],
    channel_ids: &mut HashMap<String, i64>,
    user_ids: &mut HashMap<String, i64>,
    rows: &mut Vec<Inserted>,
) -> QueryResult<RequestOutcome> {
    let mut answers = Vec::with_capacity(batch.len());
    // The rows to insert: each message with its channel and user.
    let mut new: Vec<(&NewMessage, i64, i64)> = Vec::with_capacity(batch.len());
    // Event ids this request inserts, so a repeat within it answers the first.
    let mut events: HashMap<&str, usize> = HashMap::new();
    for m in batch {
        if let Some(event_id) = m.event_id.as_deref() {
            if let Some(&n) = events.get(event_id) {
                answers.push(Answer::New(n));
                continue;
            }
            let stored = messages::table
                .filter(messages::event_id.eq(event_id))
                .select(messages::id)
                .first::<i64>(conn)
                .optional()?;
            if let Some(id) = stored {
                answers.push(Answer::Stored(id));
                continue;
            }
            events.insert(event_id, new.len());
        }
        let channel_id = channel_id(conn, channel_ids, &m.channel)?;
        let user_id = user_id(conn, user_ids, &m.user, m.display_name.as_deref())?;
        answers.push(Answer::New(new.len()));
        new.push((m, channel_id, user_id));
    }
    let first_row = rows.len();
    for chunk in new.chunks(INSERT_ROWS) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(m, channel_id, user_id)| {
                (
                    messages::channel_id.eq(*channel_id),
                    messages::user_id.eq(*user_id),
                    messages::text.eq(&m.text),
                    messages::sent_at.eq(m.sent_at),
                    messages::tags.eq(&m.tags),
                    messages::event_id.eq(&m.event_id),
                )
            })
            .collect();
        // One row goes through the single-row statement, which diesel prepares once; a
        // multi-row statement is prepared per call, which pays off only for several rows.
        match values.as_slice() {
            [one] => diesel::insert_into(messages::table).values(one).execute(conn)?,
            _ => diesel::insert_into(messages::table).values(&values).execute(conn)?,
        };
        // One statement under the single writer: its rows have consecutive ids, ending here.
        let last = inserted_id(conn)?;
        let first = last + 1 - chunk.len() as i64;
        rows.extend(
            chunk
                .iter()
                .zip(first..)
                .map(|((m, channel_id, user_id), id)| Inserted {
                    id,
                    channel_id: *channel_id,
                    user_id: *user_id,
                    sent_at: m.sent_at,
                }),
        );
    }
    let ids: Vec<i64> = answers
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
struct Activity {
    count: i64,
    min_sent: i64,
    max_sent: i64,
    last_id: i64,
    last_sent: i64,
}

fn activity_by<K: std::hash::Hash + Eq>(rows: &[Inserted], key: impl Fn(&Inserted) -> K) -> HashMap<K, Activity> {
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

/// Adds each channel's activity to its row: one statement for all of them.
const UPDATE_CHANNELS: &str = "UPDATE channels SET \
     total_messages = channels.total_messages + a.n, \
     last_message_at = max(coalesce(channels.last_message_at, a.max_sent), a.max_sent), \
     last_message_id = a.last_id \
     FROM (SELECT value->>0 AS id, value->>1 AS n, value->>2 AS max_sent, value->>3 AS last_id \
           FROM json_each(?)) AS a \
     WHERE channels.id = a.id";

/// Adds each user's activity to its row: one statement for all of them.
const UPDATE_USERS: &str = "UPDATE users SET \
     total_messages = users.total_messages + a.n, \
     first_seen_at = min(coalesce(users.first_seen_at, a.min_sent), a.min_sent), \
     last_seen_at = max(coalesce(users.last_seen_at, a.max_sent), a.max_sent), \
     last_message_at = a.last_sent, \
     last_message_id = a.last_id \
     FROM (SELECT value->>0 AS id, value->>1 AS n, value->>2 AS min_sent, value->>3 AS max_sent, \
                  value->>4 AS last_sent, value->>5 AS last_id \
           FROM json_each(?)) AS a \
     WHERE users.id = a.id";

/// Mirrors the rows into FTS and adds them to the channel, user and total counts, with one
/// statement each. (Diesel prepares every UPDATE anew, so one statement per touched channel
/// and user cost a parse each; these take the activity as one JSON array instead.)
fn apply_counts(conn: &mut SqliteConnection, rows: &[Inserted]) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Text};
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(());
    };
    // The single writer gives this transaction's rows consecutive ids: nothing else is in the range.
    diesel::sql_query("INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages WHERE id BETWEEN ? AND ?")
        .bind::<BigInt, _>(first.id)
        .bind::<BigInt, _>(last.id)
        .execute(conn)?;
    let channels: Vec<[i64; 4]> = activity_by(rows, |r| r.channel_id)
        .into_iter()
        .map(|(id, a)| [id, a.count, a.max_sent, a.last_id])
        .collect();
    let users: Vec<[i64; 6]> = activity_by(rows, |r| r.user_id)
        .into_iter()
        .map(|(id, a)| [id, a.count, a.min_sent, a.max_sent, a.last_sent, a.last_id])
        .collect();
    diesel::sql_query(UPDATE_CHANNELS)
        .bind::<Text, _>(to_json(&channels)?)
        .execute(conn)?;
    diesel::sql_query(UPDATE_USERS)
        .bind::<Text, _>(to_json(&users)?)
        .execute(conn)?;
    diesel::update(meta::table.filter(meta::id.eq(1)))
        .set(meta::total_messages.eq(meta::total_messages + rows.len() as i64))
        .execute(conn)?;
    Ok(())
}

fn to_json(value: &impl Serialize) -> QueryResult<String> {
    serde_json::to_string(value).map_err(|e| diesel::result::Error::SerializationError(e.into()))
}

diesel::define_sql_function! {
    fn last_insert_rowid() -> diesel::sql_types::BigInt;
}

/// The id of the row the connection's last INSERT created. Inserts use this rather than
/// `RETURNING`, which SQLite implements as a trigger: that makes every INSERT a multi-write
/// statement with its own statement journal, and every page it touches is written to a
/// temporary file once per message.
fn inserted_id(conn: &mut SqliteConnection) -> QueryResult<i64> {
    diesel::select(last_insert_rowid()).get_result(conn)
}

/// The id of a named row, from the transaction's cache, the table, or a new row.
fn find_or_create(
    conn: &mut SqliteConnection,
    cache: &mut HashMap<String, i64>,
    name: &str,
    find: impl FnOnce(&mut SqliteConnection) -> QueryResult<Option<i64>>,
    create: impl FnOnce(&mut SqliteConnection) -> QueryResult<i64>,
) -> QueryResult<i64> {
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

fn channel_id(conn: &mut SqliteConnection, cache: &mut HashMap<String, i64>, name: &str) -> QueryResult<i64> {
    find_or_create(
        conn,
        cache,
        name,
        |c| {
            channels::table
                .filter(channels::name.eq(name))
                .select(channels::id)
                .first(c)
                .optional()
        },
        |c| {
            diesel::insert_into(channels::table)
                .values(channels::name.eq(name))
                .execute(c)?;
            inserted_id(c)
        },
    )
}

fn user_id(
    conn: &mut SqliteConnection,
    cache: &mut HashMap<String, i64>,
    name: &str,
    display_name: Option<&str>,
) -> QueryResult<i64> {
    let id = find_or_create(
        conn,
        cache,
        name,
        |c| {
            users::table
                .filter(users::username.eq(name))
                .select(users::id)
                .first(c)
                .optional()
        },
        |c| {
            diesel::insert_into(users::table)
                .values(users::username.eq(name))
                .execute(c)?;
            inserted_id(c)
        },
    )?;
    if let Some(display_name) = display_name {
        diesel::update(
            users::table
                .filter(users::id.eq(id))
                .filter(users::display_name.is_not(display_name)),
        )
        .set(users::display_name.eq(display_name))
        .execute(conn)?;
    }
    Ok(id)
}

fn read_committed(conn: &mut SqliteConnection, rows: &[Inserted]) -> QueryResult<Committed> {
    let totals = totals(conn)?;
    let (Some(first), Some(last)) = (rows.first().map(|r| r.id), rows.last().map(|r| r.id)) else {
        return Ok(Committed {
            totals,
            ..Default::default()
        });
    };
    let messages = messages::table
        .inner_join(channels::table)
        .inner_join(users::table)
        .filter(messages::id.between(first, last))
        .order(messages::id.asc())
        .select(MESSAGE_COLUMNS)
        .load::<Message>(conn)?;
    // `apply_counts` set `last_message_id` of exactly the touched channels and users into this
    // transaction's id range (a binding per id would break SQLite's variable limit).
    let channels = channels::table
        .filter(channels::last_message_id.between(first, last))
        .select(Channel::as_select())
        .load(conn)?;
    let users = users::table
        .filter(users::last_message_id.between(first, last))
        .select(User::as_select())
        .load(conn)?;
    Ok(Committed {
        messages,
        channels,
        users,
        totals,
    })
}

pub fn totals(conn: &mut SqliteConnection) -> QueryResult<Totals> {
    let _timer = crate::metrics::read_timer("totals");
    let (total_messages, total_channels, total_users) = meta::table
        .select((meta::total_messages, meta::total_channels, meta::total_users))
        .first::<(i64, i64, i64)>(conn)?;
    let cursor = messages::table
        .select(diesel::dsl::max(messages::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0);
    Ok(Totals {
        total_messages,
        total_channels,
        total_users,
        cursor,
    })
}

/// A page of messages: ascending after `after_id`, otherwise newest first (before `before_id`).
pub fn list_messages(
    conn: &mut SqliteConnection,
    filter: MessageFilter,
    after_id: Option<i64>,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let _timer = crate::metrics::read_timer("list_messages");
    let mut q = messages::table
        .inner_join(channels::table)
        .inner_join(users::table)
        .select(MESSAGE_COLUMNS)
        .limit(limit)
        .into_boxed();
    if let Some(c) = filter.channel_id {
        q = q.filter(messages::channel_id.eq(c));
    }
    if let Some(u) = filter.user_id {
        q = q.filter(messages::user_id.eq(u));
    }
    if let Some(b) = before_id {
        q = q.filter(messages::id.lt(b));
    }
    match after_id {
        Some(a) => q.filter(messages::id.gt(a)).order(messages::id.asc()).load(conn),
        None => q.order(messages::id.desc()).load(conn),
    }
}

/// Whether more than `max` messages matching `filter` were stored after `after_id`,
/// answered without reading them.
pub fn backlog_exceeds(
    conn: &mut SqliteConnection,
    filter: MessageFilter,
    after_id: i64,
    max: i64,
) -> QueryResult<bool> {
    let _timer = crate::metrics::read_timer("backlog_exceeds");
    let mut q = messages::table
        .select(messages::id)
        .filter(messages::id.gt(after_id))
        .into_boxed();
    if let Some(c) = filter.channel_id {
        q = q.filter(messages::channel_id.eq(c));
    }
    if let Some(u) = filter.user_id {
        q = q.filter(messages::user_id.eq(u));
    }
    Ok(q.order(messages::id.asc())
        .offset(max)
        .limit(1)
        .first::<i64>(conn)
        .optional()?
        .is_some())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Count,
    Name,
    Recent,
}

pub fn list_channels(conn: &mut SqliteConnection, limit: i64, offset: i64, by_name: bool) -> QueryResult<Vec<Channel>> {
    let _timer = crate::metrics::read_timer("list_channels");
    let q = channels::table
        .select(Channel::as_select())
        .limit(limit)
        .offset(offset)
        .into_boxed();
    let q = if by_name {
        q.order(channels::name.asc())
    } else {
        q.order((channels::total_messages.desc(), channels::name.asc()))
    };
    q.load(conn)
}

pub fn list_users(conn: &mut SqliteConnection, limit: i64, offset: i64, sort: UserSort) -> QueryResult<Vec<User>> {
    let _timer = crate::metrics::read_timer("list_users");
    let q = users::table
        .select(User::as_select())
        .limit(limit)
        .offset(offset)
        .into_boxed();
    let q = match sort {
        UserSort::Count => q.order((users::total_messages.desc(), users::id.asc())),
        UserSort::Name => q.order(users::username.asc()),
        UserSort::Recent => q.order(users::last_message_id.desc()),
    };
    q.load(conn)
}

pub fn channel_by_name(conn: &mut SqliteConnection, name: &str) -> QueryResult<Option<Channel>> {
    let _timer = crate::metrics::read_timer("channel_by_name");
    channels::table
        .filter(channels::name.eq(name))
        .select(Channel::as_select())
        .first(conn)
        .optional()
}

pub fn user_by_name(conn: &mut SqliteConnection, name: &str) -> QueryResult<Option<User>> {
    let _timer = crate::metrics::read_timer("user_by_name");
    users::table
        .filter(users::username.eq(name))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Channels changed after `after_id`, oldest change first; at most `limit`.
pub fn channels_changed_after(conn: &mut SqliteConnection, after_id: i64, limit: i64) -> QueryResult<Vec<Channel>> {
    let _timer = crate::metrics::read_timer("channels_changed_after");
    channels::table
        .filter(channels::last_message_id.gt(after_id))
        .order(channels::last_message_id.asc())
        .limit(limit)
        .select(Channel::as_select())
        .load(conn)
}

/// Users changed after `after_id`, oldest change first; at most `limit`.
pub fn users_changed_after(conn: &mut SqliteConnection, after_id: i64, limit: i64) -> QueryResult<Vec<User>> {
    let _timer = crate::metrics::read_timer("users_changed_after");
    users::table
        .filter(users::last_message_id.gt(after_id))
        .order(users::last_message_id.asc())
        .limit(limit)
        .select(User::as_select())
        .load(conn)
}

/// Full-text search, newest first. `fts_query` comes from [`parse_query`].
pub fn search_messages(
    conn: &mut SqliteConnection,
    fts_query: &str,
    filter: MessageFilter,
    since: Option<i64>,
    until: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let _timer = crate::metrics::read_timer("search_messages");
    let matching = diesel::dsl::sql::<diesel::sql_types::Bool>(
        "messages.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ",
    )
    .bind::<diesel::sql_types::Text, _>(fts_query.to_owned())
    .sql(")");
    let mut q = messages::table
        .inner_join(channels::table)
        .inner_join(users::table)
        .select(MESSAGE_COLUMNS)
        .filter(matching)
        .order(messages::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(c) = filter.channel_id {
        q = q.filter(messages::channel_id.eq(c));
    }
    if let Some(u) = filter.user_id {
        q = q.filter(messages::user_id.eq(u));
    }
    if let Some(s) = since {
        q = q.filter(messages::sent_at.ge(s));
    }
    if let Some(u) = until {
        q = q.filter(messages::sent_at.lt(u));
    }
    q.load(conn)
}

/// Whether the database answers.
pub fn ping(conn: &mut SqliteConnection) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: usize, event_id: Option<String>) -> NewMessage {
        NewMessage {
            channel: format!("c{}", n % 7),
            user: format!("u{}", n % 13),
            text: format!("text {n}"),
            sent_at: 1_700_000_000_000 + n as i64,
            tags: None,
            display_name: None,
            event_id,
        }
    }

    /// Requests larger than one INSERT, with repeated event ids inside and across requests:
    /// every message is answered with the id of the row that holds it.
    #[test]
    fn multi_row_inserts_answer_each_message_with_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("t.db").to_str().unwrap(), 2).unwrap();
        let n = 2 * INSERT_ROWS + 500;
        let mut first: Vec<NewMessage> = (0..n).map(|i| message(i, Some(format!("e{i}")))).collect();
        first.push(message(n + 10, Some("e5".into())));
        first.push(message(n, None));
        let second = vec![
            message(n + 20, Some("e7".into())),
            message(n + 1, Some("new".into())),
            message(n + 2, None),
        ];
        let (outcomes, committed) = store.insert_batches(&[first.clone(), second.clone()]).unwrap();
        let a = outcomes[0].as_ref().unwrap();
        let b = outcomes[1].as_ref().unwrap();
        assert_eq!((a.inserted, a.duplicates), (n + 1, 1));
        assert_eq!((b.inserted, b.duplicates), (2, 1));
        assert_eq!(a.ids[n], a.ids[5], "a repeat within the request answers the first");
        assert_eq!(b.ids[0], a.ids[7], "a repeat across requests answers the stored row");
        assert_eq!(committed.messages.len(), n + 3);

        let mut conn = store.conn().unwrap();
        for (batch, ids) in [(&first, &a.ids), (&second, &b.ids)] {
            for (m, id) in batch.iter().zip(ids.iter()) {
                let (text, event_id): (String, Option<String>) = messages::table
                    .find(id)
                    .select((messages::text, messages::event_id))
                    .first(&mut conn)
                    .unwrap();
                let original = m.event_id.as_ref().map_or(m, |e| {
                    first
                        .iter()
                        .chain(second.iter())
                        .find(|o| o.event_id.as_ref() == Some(e))
                        .unwrap()
                });
                assert_eq!((&text, &event_id), (&original.text, &original.event_id), "row {id}");
            }
        }
        assert_eq!(totals(&mut conn).unwrap().total_messages, (n + 3) as i64);
    }
}
