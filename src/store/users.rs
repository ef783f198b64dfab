//! The `users` table: one row per user, with counts kept by the write path.
use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::ids::{Cursor, UserId};
use super::schema::users;
use super::write::find_or_create;
use super::{postgres, sqlite, DbConnection};
use crate::time::serialize_opt_ms;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// The newest display name ingest gave this user.
    pub display_name: Option<String>,
    pub total_messages: i64,
    #[serde(serialize_with = "serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null, required = true)]
    pub first_seen_at: Option<i64>,
    #[serde(serialize_with = "serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null, required = true)]
    pub last_seen_at: Option<i64>,
    /// The `sent_at` of their newest message (by id, unlike `last_seen_at`).
    #[serde(serialize_with = "serialize_opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null, required = true)]
    pub last_message_at: Option<i64>,
    /// Their newest message: where a count view resumes from.
    #[serde(skip)]
    pub last_message_id: Cursor,
}

/// How `/api/users` orders its rows: most messages, name, or newest message first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserSort {
    Count,
    Name,
    Recent,
}

/// Users whose name starts with `prefix` (any case), or all.
fn named<'a>(prefix: Option<&str>) -> users::BoxedQuery<'a, crate::store::DbBackend> {
    let mut q = users::table.into_boxed();
    if let Some(p) = prefix {
        q = q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(users.username) LIKE ")
                .bind::<diesel::sql_types::Text, _>(super::pages::starts_with_pattern(p))
                .sql(" ESCAPE '\\'"),
        );
    }
    q
}

/// A page of users (whose name starts with `prefix`, when given).
pub fn list_users(
    conn: &mut DbConnection,
    limit: i64,
    offset: i64,
    sort: UserSort,
    prefix: Option<&str>,
) -> QueryResult<Vec<User>> {
    let _timer = crate::metrics::read_timer("list_users");
    let q = named(prefix).select(User::as_select()).limit(limit).offset(offset);
    let q = match sort {
        UserSort::Count => q.order((users::total_messages.desc(), users::id.asc())),
        UserSort::Name => q.order(users::username.asc()),
        UserSort::Recent => q.order(users::last_message_id.desc()),
    };
    q.load(conn)
}

/// How many users' names start with `prefix`.
pub fn count_users(conn: &mut DbConnection, prefix: &str) -> QueryResult<i64> {
    let _timer = crate::metrics::read_timer("list_users");
    named(Some(prefix)).count().get_result(conn)
}

/// Like [`super::channel_by_name`], an invalid name is not looked up.
pub fn user_by_name(conn: &mut DbConnection, name: &str) -> QueryResult<Option<User>> {
    if !crate::domain::valid_name(name) {
        return Ok(None);
    }
    let _timer = crate::metrics::read_timer("user_by_name");
    users::table
        .filter(users::username.eq(name))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Users changed after `after`, oldest change first; at most `limit`.
pub fn users_changed_after(conn: &mut DbConnection, after: Cursor, limit: i64) -> QueryResult<Vec<User>> {
    let _timer = crate::metrics::read_timer("users_changed_after");
    users::table
        .filter(users::last_message_id.gt(after))
        .order(users::last_message_id.asc())
        .limit(limit)
        .select(User::as_select())
        .load(conn)
}

/// Users whose newest message is in `first..=last` (a transaction's own range).
pub(super) fn changed_between(conn: &mut DbConnection, first: Cursor, last: Cursor) -> QueryResult<Vec<User>> {
    users::table
        .filter(users::last_message_id.between(first, last))
        .select(User::as_select())
        .load(conn)
}

/// The id of the user named `name`, created on first use; their display name is updated
/// when a message brings a new one.
pub(super) fn find_or_create_user(
    conn: &mut DbConnection,
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
        |c| match c {
            DbConnection::Sqlite(c) => sqlite::create_user(c, name),
            DbConnection::Pg(c) => postgres::create_user(c, name),
        },
    )?;
    if let Some(display_name) = display_name {
        diesel::update(
            users::table
                .filter(users::id.eq(id))
                .filter(users::display_name.is_null().or(users::display_name.ne(display_name))),
        )
        .set(users::display_name.eq(display_name))
        .execute(conn)?;
    }
    Ok(id)
}
