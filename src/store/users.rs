//! The `users` table: one row per user, with counts kept by the write path.
use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::ids::{Cursor, UserId};
use super::schema::users;
use super::write::{activity_json, find_or_create, inserted_id, Activity};
use crate::time::serialize_opt_ms;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// The newest display name ingest gave this user.
    pub display_name: Option<String>,
    pub total_messages: i64,
    #[serde(serialize_with = "serialize_opt_ms")]
    pub first_seen_at: Option<i64>,
    #[serde(serialize_with = "serialize_opt_ms")]
    pub last_seen_at: Option<i64>,
    /// The `sent_at` of their newest message (by id, unlike `last_seen_at`).
    #[serde(serialize_with = "serialize_opt_ms")]
    pub last_message_at: Option<i64>,
    /// Their newest message: where a count view resumes from.
    #[serde(skip)]
    pub last_message_id: Cursor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Count,
    Name,
    Recent,
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

pub fn user_by_name(conn: &mut SqliteConnection, name: &str) -> QueryResult<Option<User>> {
    let _timer = crate::metrics::read_timer("user_by_name");
    users::table
        .filter(users::username.eq(name))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Users changed after `after`, oldest change first; at most `limit`.
pub fn users_changed_after(conn: &mut SqliteConnection, after: Cursor, limit: i64) -> QueryResult<Vec<User>> {
    let _timer = crate::metrics::read_timer("users_changed_after");
    users::table
        .filter(users::last_message_id.gt(after))
        .order(users::last_message_id.asc())
        .limit(limit)
        .select(User::as_select())
        .load(conn)
}

/// Users whose newest message is in `first..=last` (a transaction's own range).
pub(super) fn changed_between(conn: &mut SqliteConnection, first: Cursor, last: Cursor) -> QueryResult<Vec<User>> {
    users::table
        .filter(users::last_message_id.between(first, last))
        .select(User::as_select())
        .load(conn)
}

/// The id of the user named `name`, created on first use; their display name is updated
/// when a message brings a new one.
pub(super) fn find_or_create_user(
    conn: &mut SqliteConnection,
    cache: &mut HashMap<String, UserId>,
    name: &str,
    display_name: Option<&str>,
) -> QueryResult<UserId> {
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
            inserted_id(c).map(UserId)
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

/// Adds each user's activity to its row: one statement for all of them.
const ADD_ACTIVITY: &str = "UPDATE users SET \
     total_messages = users.total_messages + a.n, \
     first_seen_at = min(coalesce(users.first_seen_at, a.min_sent), a.min_sent), \
     last_seen_at = max(coalesce(users.last_seen_at, a.max_sent), a.max_sent), \
     last_message_at = a.last_sent, \
     last_message_id = a.last_id \
     FROM (SELECT value->>0 AS id, value->>1 AS n, value->>2 AS min_sent, value->>3 AS max_sent, \
                  value->>4 AS last_sent, value->>5 AS last_id \
           FROM json_each(?)) AS a \
     WHERE users.id = a.id";

pub(super) fn add_activity(conn: &mut SqliteConnection, activity: HashMap<UserId, Activity>) -> QueryResult<()> {
    let rows: Vec<[i64; 6]> = activity
        .into_iter()
        .map(|(id, a)| [id.0, a.count, a.min_sent, a.max_sent, a.last_sent, a.last_id.0])
        .collect();
    diesel::sql_query(ADD_ACTIVITY)
        .bind::<diesel::sql_types::Text, _>(activity_json(&rows)?)
        .execute(conn)?;
    Ok(())
}
