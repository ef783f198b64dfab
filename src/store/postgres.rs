//! Everything only PostgreSQL does: migrations under a session lock, the write lock that
//! puts every commit of every node in one order, ids from that order, find-or-create with
//! `ON CONFLICT`, counts updated from `unnest`, and search on a `tsvector` column. The rest
//! of the store runs diesel's DSL on either backend.
use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::ids::{ChannelId, MessageId, UserId};
use super::schema::{channels, messages, users};
use super::search::SearchQuery;
use super::write::{Activity, NewRow};
use super::Begin;

pub(super) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgresql");

/// Advisory lock keys (any fixed numbers; these spell "cp-migr" and "cp-write").
const MIGRATION_LOCK: i64 = 0x0063_702d_6d69_6772;
const WRITE_LOCK: i64 = 0x6370_2d77_7269_7465;

/// Several nodes may start at once on an empty database: the first to take the lock
/// creates the schema and the epoch, the others wait and then find nothing pending.
pub(super) fn migrate(conn: &mut PgConnection) -> Result<(), String> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .map_err(|e| e.to_string())?;
    let migrated = conn
        .run_pending_migrations(MIGRATIONS)
        .map(drop)
        .map_err(|e| e.to_string());
    let unlocked = conn
        .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .map_err(|e| e.to_string());
    migrated.and(unlocked)
}

/// A read sees one snapshot for all its statements. A write stays READ COMMITTED: each
/// statement after [`lock_writes`] sees every commit made before the lock was granted.
pub(super) fn begin(begin: Begin) -> &'static str {
    match begin {
        Begin::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        Begin::Write => "BEGIN",
    }
}

/// One writer at a time across all nodes, until this transaction ends (PROTOCOL.md 7.2):
/// ids are then handed out densely and in commit order, and an `event_id` looked up
/// under the lock cannot be inserted by another node before this one commits.
pub(super) fn lock_writes(conn: &mut PgConnection) -> QueryResult<()> {
    conn.batch_execute(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})"))
}

/// The channel's id, creating it if needed; two nodes creating the same channel at once
/// both get its one id. The `channels_count` trigger counts a new one.
pub(super) fn create_channel(conn: &mut PgConnection, name: &str) -> QueryResult<ChannelId> {
    diesel::insert_into(channels::table)
        .values(channels::name.eq(name))
        .on_conflict_do_nothing()
        .execute(conn)?;
    channels::table
        .filter(channels::name.eq(name))
        .select(channels::id)
        .first(conn)
}

/// The user's id, creating them if needed (see [`create_channel`]).
pub(super) fn create_user(conn: &mut PgConnection, name: &str) -> QueryResult<UserId> {
    diesel::insert_into(users::table)
        .values(users::username.eq(name))
        .on_conflict_do_nothing()
        .execute(conn)?;
    users::table
        .filter(users::username.eq(name))
        .select(users::id)
        .first(conn)
}

/// Inserts the rows with ids `first_id..`, in one statement, and returns `first_id`. The
/// ids come from the counter read under the write lock, never from a sequence: a
/// sequence would leave holes where a transaction rolled back.
pub(super) fn insert_messages(conn: &mut PgConnection, first_id: i64, rows: &[NewRow]) -> QueryResult<i64> {
    let values: Vec<_> = rows
        .iter()
        .zip(first_id..)
        .map(|(r, id)| {
            (
                messages::id.eq(MessageId(id)),
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
    diesel::insert_into(messages::table).values(&values).execute(conn)?;
    Ok(first_id)
}

/// Adds each channel's activity to its row, one statement for all of them.
const ADD_CHANNEL_ACTIVITY: &str = "UPDATE channels SET \
     total_messages = channels.total_messages + a.n, \
     last_message_at = GREATEST(channels.last_message_at, a.max_sent), \
     last_message_id = a.last_id \
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS a (id, n, max_sent, last_id) \
     WHERE channels.id = a.id";

/// Adds each user's activity to its row, one statement for all of them.
const ADD_USER_ACTIVITY: &str = "UPDATE users SET \
     total_messages = users.total_messages + a.n, \
     first_seen_at = LEAST(users.first_seen_at, a.min_sent), \
     last_seen_at = GREATEST(users.last_seen_at, a.max_sent), \
     last_message_at = a.last_sent, \
     last_message_id = a.last_id \
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) \
          AS a (id, n, min_sent, max_sent, last_sent, last_id) \
     WHERE users.id = a.id";

/// Adds the transaction's activity to the channels and users, one statement each (the
/// `search` column is generated from the text: there is no mirror to fill).
pub(super) fn apply_counts(
    conn: &mut PgConnection,
    channels: &HashMap<ChannelId, Activity>,
    users: &HashMap<UserId, Activity>,
) -> QueryResult<()> {
    let column = |f: &dyn Fn(&Activity) -> i64, a: &[&Activity]| a.iter().map(|a| f(a)).collect::<Vec<i64>>();
    let (ids, activity): (Vec<i64>, Vec<&Activity>) = channels.iter().map(|(id, a)| (id.0, a)).unzip();
    diesel::sql_query(ADD_CHANNEL_ACTIVITY)
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Array<BigInt>, _>(column(&|a| a.count, &activity))
        .bind::<Array<BigInt>, _>(column(&|a| a.max_sent, &activity))
        .bind::<Array<BigInt>, _>(column(&|a| a.last_id.0, &activity))
        .execute(conn)?;
    let (ids, activity): (Vec<i64>, Vec<&Activity>) = users.iter().map(|(id, a)| (id.0, a)).unzip();
    diesel::sql_query(ADD_USER_ACTIVITY)
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Array<BigInt>, _>(column(&|a| a.count, &activity))
        .bind::<Array<BigInt>, _>(column(&|a| a.min_sent, &activity))
        .bind::<Array<BigInt>, _>(column(&|a| a.max_sent, &activity))
        .bind::<Array<BigInt>, _>(column(&|a| a.last_sent, &activity))
        .bind::<Array<BigInt>, _>(column(&|a| a.last_id.0, &activity))
        .execute(conn)?;
    Ok(())
}

/// The condition "this message matches the query", around the bound tsquery string.
pub(super) const MATCHES: (&str, &str) = ("messages.search @@ to_tsquery('simple', ", ")");

/// The query as `to_tsquery` reads it: each term one quoted lexeme (a quote doubled, a
/// backslash escaped), so no user text is read as tsquery syntax. A quoted lexeme of
/// several words becomes a phrase (`<->`), as an FTS5 string does; terms are joined by `&`.
pub(super) fn tsquery(query: &SearchQuery) -> String {
    query
        .terms()
        .iter()
        .map(|t| {
            let mut out = String::with_capacity(t.text.len() + 4);
            out.push('\'');
            for c in t.text.chars() {
                match c {
                    '\'' => out.push_str("''"),
                    '\\' => out.push_str("\\\\"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            if t.prefix {
                out.push_str(":*");
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" & ")
}
