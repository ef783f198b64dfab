//! Everything only SQLite does: its pragmas, its migrations, `BEGIN IMMEDIATE`, ids from
//! AUTOINCREMENT, the FTS5 mirror, and counts updated from `json_each`. The rest of the
//! store runs diesel's DSL on either backend.
use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::ids::{ChannelId, MessageId, UserId};
use super::messages::Message;
use super::schema::{channels, messages, users};
use super::search::SearchQuery;
use super::write::{Activity, NewRow};
use super::{Begin, BUSY_TIMEOUT_MS};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// WAL lets readers run beside the single writer. Switching to it needs the file to
/// itself, so it happens once, before the pool opens its connections at once.
pub(super) fn prepare(path: &str) -> Result<(), String> {
    let mut first = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
    first
        .batch_execute("PRAGMA journal_mode = WAL;")
        .map_err(|e| e.to_string())
}

/// synchronous=NORMAL in WAL mode keeps every commit across a process kill (not across
/// power loss). WAL itself is set once, in [`prepare`]: it is stored in the file.
/// `cache_kib` bounds the connection's page cache (a negative `cache_size` is in KiB).
pub(super) fn on_acquire(conn: &mut SqliteConnection, cache_kib: u32) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA cache_size = -{cache_kib};"
    ))
}

pub(super) fn migrate(conn: &mut SqliteConnection) -> Result<(), String> {
    conn.run_pending_migrations(MIGRATIONS)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A writer takes the write lock up front, so it waits (busy timeout) rather than failing
/// to upgrade a read transaction later.
pub(super) fn begin(begin: Begin) -> &'static str {
    match begin {
        Begin::Read => "BEGIN",
        Begin::Write => "BEGIN IMMEDIATE",
    }
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

/// A new channel (the `channels_count` trigger counts it).
pub(super) fn create_channel(conn: &mut SqliteConnection, name: &str) -> QueryResult<ChannelId> {
    diesel::insert_into(channels::table)
        .values(channels::name.eq(name))
        .execute(conn)?;
    inserted_id(conn).map(ChannelId)
}

/// A new user (the `users_count` trigger counts them).
pub(super) fn create_user(conn: &mut SqliteConnection, name: &str) -> QueryResult<UserId> {
    diesel::insert_into(users::table)
        .values(users::username.eq(name))
        .execute(conn)?;
    inserted_id(conn).map(UserId)
}

/// Inserts the rows in one statement and returns the first one's id: under the single
/// writer, AUTOINCREMENT gives one statement's rows consecutive ids, ending at the last.
pub(super) fn insert_messages(conn: &mut SqliteConnection, rows: &[NewRow]) -> QueryResult<i64> {
    let values: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                messages::channel_id.eq(r.channel_id),
                messages::user_id.eq(r.user_id),
                messages::text.eq(&r.message.text),
                messages::sent_at.eq(r.message.sent_at),
                messages::tags.eq(&r.message.tags),
                messages::event_id.eq(&r.message.event_id),
                messages::payload.eq(r.payload),
                messages::private.eq(r.private),
            )
        })
        .collect();
    // One row goes through the single-row statement, which diesel prepares once; a
    // multi-row statement is prepared per call, which pays off only for several rows.
    match values.as_slice() {
        [one] => diesel::insert_into(messages::table).values(one).execute(conn)?,
        _ => diesel::insert_into(messages::table).values(&values).execute(conn)?,
    };
    Ok(inserted_id(conn)? + 1 - rows.len() as i64)
}

/// Adds each channel's activity to its row: one statement for all of them (diesel
/// prepares every UPDATE anew, so one per channel would cost a parse each).
const ADD_CHANNEL_ACTIVITY: &str = "UPDATE channels SET \
     total_messages = channels.total_messages + a.n, \
     last_message_at = max(coalesce(channels.last_message_at, a.max_sent), a.max_sent), \
     last_message_id = a.last_id \
     FROM (SELECT value->>0 AS id, value->>1 AS n, value->>2 AS max_sent, value->>3 AS last_id \
           FROM json_each(?)) AS a \
     WHERE channels.id = a.id";

/// Adds each user's activity to its row: one statement for all of them.
const ADD_USER_ACTIVITY: &str = "UPDATE users SET \
     total_messages = users.total_messages + a.n, \
     first_seen_at = min(coalesce(users.first_seen_at, a.min_sent), a.min_sent), \
     last_seen_at = max(coalesce(users.last_seen_at, a.max_sent), a.max_sent), \
     last_message_at = a.last_sent, \
     last_message_id = a.last_id \
     FROM (SELECT value->>0 AS id, value->>1 AS n, value->>2 AS min_sent, value->>3 AS max_sent, \
                  value->>4 AS last_sent, value->>5 AS last_id \
           FROM json_each(?)) AS a \
     WHERE users.id = a.id";

/// Mirrors the transaction's rows (`first..=last`) into FTS and adds their activity to
/// the channels and users, one statement each.
pub(super) fn apply_counts(
    conn: &mut SqliteConnection,
    first: MessageId,
    last: MessageId,
    channels: &HashMap<ChannelId, Activity>,
    users: &HashMap<UserId, Activity>,
) -> QueryResult<()> {
    // The single writer gives this transaction's rows consecutive ids: nothing else is in the range.
    // Only public messages are searched; one deleted in the same transaction is left out.
    diesel::sql_query(
        "INSERT INTO messages_fts (rowid, text, scope) SELECT id, text, 'c' || channel_id || ' u' || user_id \
         FROM messages WHERE id BETWEEN ? AND ? AND kind = 'message' AND NOT deleted AND NOT private",
    )
    .bind::<BigInt, _>(first)
    .bind::<BigInt, _>(last)
    .execute(conn)?;
    let channels: Vec<[i64; 4]> = channels
        .iter()
        .map(|(id, a)| [id.0, a.count, a.max_sent, a.last_id.0])
        .collect();
    diesel::sql_query(ADD_CHANNEL_ACTIVITY)
        .bind::<Text, _>(json(&channels)?)
        .execute(conn)?;
    let users: Vec<[i64; 6]> = users
        .iter()
        .map(|(id, a)| [id.0, a.count, a.min_sent, a.max_sent, a.last_sent, a.last_id.0])
        .collect();
    diesel::sql_query(ADD_USER_ACTIVITY)
        .bind::<Text, _>(json(&users)?)
        .execute(conn)?;
    Ok(())
}

/// A message's scope as the FTS mirror indexes it (and `messages_fts_source` computes it):
/// its channel and its user, each a token a search can be narrowed to.
fn scope(m: &Message) -> String {
    format!("c{} u{}", m.channel_id.0, m.user_id.0)
}

/// Removes a row's text from the FTS mirror: an external-content table is told the old
/// text and scope, which must be exactly what was indexed.
pub(super) fn unindex(conn: &mut SqliteConnection, m: &Message) -> QueryResult<()> {
    diesel::sql_query("INSERT INTO messages_fts (messages_fts, rowid, text, scope) VALUES ('delete', ?, ?, ?)")
        .bind::<BigInt, _>(m.id)
        .bind::<Text, _>(&m.text)
        .bind::<Text, _>(scope(m))
        .execute(conn)
        .map(drop)
}

/// Indexes `text`, the message's new text.
pub(super) fn index(conn: &mut SqliteConnection, m: &Message, text: &str) -> QueryResult<()> {
    diesel::sql_query("INSERT INTO messages_fts (rowid, text, scope) VALUES (?, ?, ?)")
        .bind::<BigInt, _>(m.id)
        .bind::<Text, _>(text)
        .bind::<Text, _>(scope(m))
        .execute(conn)
        .map(drop)
}

fn json(value: &impl serde::Serialize) -> QueryResult<String> {
    serde_json::to_string(value).map_err(|e| diesel::result::Error::SerializationError(e.into()))
}

/// The condition "this message matches the query", around the bound FTS5 query string.
pub(super) const MATCHES: (&str, &str) = (
    "messages.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ",
    ")",
);

/// The query as FTS5 reads it: every term quoted, so nothing of FTS5's own syntax
/// (NEAR, column filters, operators) gets through.
pub(super) fn match_string(query: &SearchQuery) -> String {
    let terms = query
        .terms()
        .iter()
        .map(|t| {
            let mut out = format!("\"{}\"", t.text.replace('"', "\"\""));
            if t.prefix {
                out.push('*');
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" ");
    // The words are the text's: the scope column holds ids, never searched for.
    format!("text : ({terms})")
}

/// [`match_string`] narrowed to one channel's or user's messages by the scope column.
pub(super) fn scoped_match_string(query: &SearchQuery, channel: Option<ChannelId>, user: Option<UserId>) -> String {
    let mut out = match_string(query);
    if let Some(c) = channel {
        out.push_str(&format!(" AND scope : \"c{}\"", c.0));
    }
    if let Some(u) = user {
        out.push_str(&format!(" AND scope : \"u{}\"", u.0));
    }
    out
}
