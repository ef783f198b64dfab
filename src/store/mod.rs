//! All SQL lives here, one file per table and per job: handlers and actors call these
//! typed functions. Writes come only from the ingest actor through
//! [`Store::insert_batches`] (`write.rs`).
//!
//! Two backends, one API: SQLite (embedded, the default) and PostgreSQL (several nodes on
//! one database). Callers hold a [`DbConnection`] and never ask which one it is; the SQL
//! that differs between them (FTS5 or `tsvector`, `json_each` or `unnest`, how ids are
//! handed out, how a write transaction begins) is in `sqlite.rs` and `postgres.rs`.
pub mod channels;
pub mod files;
pub mod ids;
pub mod irc;
pub mod messages;
pub mod meta;
pub mod minutes;
pub mod pages;
pub mod people;
#[cfg(test)]
mod pg_tests;
pub mod polls;
mod postgres;
pub mod retention;
pub mod schema;
mod search;
mod sqlite;
pub mod stream_ops;
pub mod streams;
pub mod top;
pub mod users;
mod write;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;

pub use channels::{channel_by_name, channels_changed_after, count_channels, list_channels, Channel};
pub use ids::{ChannelId, Cursor, MessageId, UserId};
pub use messages::{backlog_exceeds, list_messages, EventType, Message, MessageFilter, NewMessage, Rows};
pub use meta::{ping, totals, Totals};
pub use search::{
    count_matches, export_page, parse_query, search_messages, search_with_total, Find, InvalidQuery, SearchQuery,
    SEARCH_COUNT_MAX,
};
pub use stream_ops::{Actor, OpOutcome, Refusal, StreamOp};
pub use streams::{Stream, StreamKind, StreamStatus};
pub use users::{count_users, list_users, user_by_name, users_changed_after, User, UserSort};
pub use write::{committed_between, Committed, Done, RequestOutcome, Write, INSERT_ROWS};

/// How long a connection waits for SQLite's write lock before failing.
pub const BUSY_TIMEOUT_MS: u64 = 5000;

/// One connection type over both backends: diesel's DSL runs on either unchanged, and
/// the little SQL that differs lives in `sqlite.rs` and `postgres.rs`, reached by matching
/// on the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

pub type Conn = PooledConnection<Manager>;

/// The backend type of [`DbConnection`], for boxed queries.
pub type DbBackend = <DbConnection as diesel::Connection>::Backend;

/// Which database `--database` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The file path, without any `sqlite://`.
    Sqlite(String),
    /// The `postgres://` or `postgresql://` URL, as given.
    Pg(String),
}

impl Backend {
    /// `postgres://…` and `postgresql://…` select PostgreSQL; `sqlite://PATH` and a plain
    /// path select SQLite.
    pub fn from_database(database: &str) -> Backend {
        if database.starts_with("postgres://") || database.starts_with("postgresql://") {
            Backend::Pg(database.to_owned())
        } else {
            Backend::Sqlite(database.strip_prefix("sqlite://").unwrap_or(database).to_owned())
        }
    }
}

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
    /// A change to a stream broke a rule (PROTOCOL.md section 8); nothing was changed.
    #[error(transparent)]
    Refused(stream_ops::Refusal),
    /// A blocking store task did not finish (its thread panicked or the runtime stopped).
    #[error("a store task was interrupted: {0}")]
    Interrupted(String),
}
pub type StoreResult<T> = Result<T, StoreError>;

/// Why the store cannot take writes, where an error says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTrouble {
    /// The disk (or the database's quota) is full.
    Full,
    /// The database refuses writes (a read-only file, a read-only PostgreSQL transaction
    /// or standby).
    ReadOnly,
}

impl WriteTrouble {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteTrouble::Full => "storage_full",
            WriteTrouble::ReadOnly => "read_only",
        }
    }
}

impl StoreError {
    /// Whether this error says the store cannot take writes, and why. SQLite says it in
    /// its messages (`SQLITE_FULL`, `SQLITE_READONLY`); PostgreSQL in its error class
    /// (read-only transaction) or message (no space left).
    pub fn write_trouble(&self) -> Option<WriteTrouble> {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Commit(e) => e.write_trouble(),
            StoreError::Query(Error::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _)) => {
                Some(WriteTrouble::ReadOnly)
            }
            StoreError::Query(Error::DatabaseError(_, info)) => trouble_in(info.message()),
            StoreError::Open { reason, .. } | StoreError::Migrations(reason) => trouble_in(reason),
            _ => None,
        }
    }
}

fn trouble_in(message: &str) -> Option<WriteTrouble> {
    let m = message.to_ascii_lowercase();
    if m.contains("database or disk is full")
        || m.contains("no space left on device")
        || m.contains("could not extend file")
    {
        Some(WriteTrouble::Full)
    } else if m.contains("readonly database") || m.contains("read-only transaction") {
        Some(WriteTrouble::ReadOnly)
    } else {
        None
    }
}

/// Opens pool connections of the backend the database names. (diesel's own
/// `ConnectionManager` would try each variant's `establish` in turn, so a PostgreSQL URL
/// that fails to connect would then be tried as a SQLite file name.)
#[derive(Debug)]
pub struct Manager(Backend);

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        let conn = match &self.0 {
            Backend::Sqlite(path) => SqliteConnection::establish(path).map(DbConnection::Sqlite),
            Backend::Pg(url) => PgConnection::establish(url).map(DbConnection::Pg),
        };
        conn.map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// `--sqlite-cache-kib` by default: SQLite's page cache per connection, in KiB.
pub const SQLITE_CACHE_KIB: u32 = 16_000;

/// What each new connection is set up with; `u32` is SQLite's page cache in KiB.
#[derive(Debug)]
struct Pragmas(u32);

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        match conn {
            DbConnection::Sqlite(c) => sqlite::on_acquire(c, self.0),
            DbConnection::Pg(_) => Ok(()),
        }
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// How a transaction begins: each backend has its own statement for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Begin {
    /// Every read sees one snapshot.
    Read,
    /// The one writer at a time (the group commit).
    Write,
}

/// Runs `f` in a transaction begun the backend's way for `begin` (see `sqlite::begin`,
/// `postgres::begin`); savepoints inside it (`conn.transaction`) nest as usual.
pub(crate) fn transaction<T, E>(
    conn: &mut DbConnection,
    begin: Begin,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, sqlite::begin(begin))?,
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction_sql(c, postgres::begin(begin))?,
    }
    let result = match conn {
        DbConnection::Pg(c) if begin == Begin::Write => postgres::lock_writes(c).map_err(E::from),
        _ => Ok(()),
    }
    .and_then(|()| f(conn));
    match result {
        Ok(value) => {
            <DbConnection as TransactionManager<DbConnection>>::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => match <DbConnection as TransactionManager<DbConnection>>::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// The database: a pool of connections and the epoch fixed when it was created.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
    /// File chunks are read and written here only (see [`Store::file_io`]).
    files: Pool<Manager>,
    files_gate: std::sync::Arc<tokio::sync::Semaphore>,
    epoch: String,
    /// The SQLite file, for the size gauges; `None` on PostgreSQL.
    sqlite_path: Option<String>,
}

impl Store {
    /// Opens `database` (a SQLite path, `sqlite://PATH`, or a `postgres://` URL) with a
    /// pool of `pool_size` connections, and brings its schema up to date.
    pub fn open(database: &str, pool_size: u32) -> StoreResult<Store> {
        Store::open_with_cache(database, pool_size, SQLITE_CACHE_KIB)
    }

    /// [`Store::open`] with SQLite's page cache per connection set to `sqlite_cache_kib`.
    pub fn open_with_cache(database: &str, pool_size: u32, sqlite_cache_kib: u32) -> StoreResult<Store> {
        let backend = Backend::from_database(database);
        let open_error = |reason: String| StoreError::Open {
            path: database.to_owned(),
            reason,
        };
        if let Backend::Sqlite(path) = &backend {
            sqlite::prepare(path).map_err(open_error)?;
        }
        let sqlite_path = match &backend {
            Backend::Sqlite(path) => Some(path.clone()),
            Backend::Pg(_) => None,
        };
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Pragmas(sqlite_cache_kib)))
            .build(Manager(backend.clone()))
            .map_err(|e| open_error(e.to_string()))?;
        let files = Pool::builder()
            .max_size(files::FILE_IO_CONNECTIONS as u32)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Pragmas(files::FILE_IO_CACHE_KIB)))
            .build(Manager(backend))
            .map_err(|e| open_error(e.to_string()))?;
        let mut conn = pool.get()?;
        match &mut *conn {
            DbConnection::Sqlite(c) => sqlite::migrate(c),
            DbConnection::Pg(c) => postgres::migrate(c),
        }
        .map_err(StoreError::Migrations)?;
        let epoch = meta::epoch(&mut conn)?;
        Ok(Store {
            pool,
            files,
            files_gate: std::sync::Arc::new(tokio::sync::Semaphore::new(files::FILE_IO_CONNECTIONS)),
            epoch,
            sqlite_path,
        })
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The SQLite database file, `None` on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&str> {
        self.sqlite_path.as_deref()
    }

    pub fn conn(&self) -> StoreResult<Conn> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` on a pooled connection, off the async threads, outside any transaction:
    /// for single statements beside the message write path (the followed IRC channels).
    pub async fn run<T, E>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Interrupted(e.to_string()))?
    }

    /// Runs `f` (a file chunk's read or write) on the files' own connections, at most
    /// [`files::FILE_IO_CONNECTIONS`] at once, off the async threads: transfers wait their
    /// turn here (a transfer holds no connection while it waits for its client), so they
    /// take at most that many threads and never a pooled connection from the live views,
    /// and their chunks pass through a small page cache instead of filling every
    /// connection's (`--sqlite-cache-kib`).
    pub async fn file_io<T, E>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let _turn = self
            .files_gate
            .acquire()
            .await
            .map_err(|e| StoreError::Interrupted(e.to_string()))?;
        let pool = self.files.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Interrupted(e.to_string()))?
    }

    /// Runs `f` in one read transaction on a pooled connection, off the async threads:
    /// everything it reads (data and cursor alike) comes from one snapshot.
    pub async fn snapshot<T, E>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + From<diesel::result::Error> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            transaction(&mut conn, Begin::Read, f)
        })
        .await
        .map_err(|e| StoreError::Interrupted(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_that_say_the_store_takes_no_writes_are_recognised() {
        assert_eq!(trouble_in("database or disk is full"), Some(WriteTrouble::Full));
        assert_eq!(
            trouble_in("could not extend file \"base/16384/2619\": No space left on device"),
            Some(WriteTrouble::Full)
        );
        assert_eq!(
            trouble_in("attempt to write a readonly database"),
            Some(WriteTrouble::ReadOnly)
        );
        assert_eq!(
            trouble_in("cannot execute INSERT in a read-only transaction"),
            Some(WriteTrouble::ReadOnly)
        );
        assert_eq!(trouble_in("UNIQUE constraint failed: messages.event_id"), None);
        let full = StoreError::Commit(std::sync::Arc::new(StoreError::Migrations(
            "database or disk is full".into(),
        )));
        assert_eq!(
            full.write_trouble(),
            Some(WriteTrouble::Full),
            "through a group commit's error too"
        );
    }

    use super::*;
    use schema::messages;

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

    #[test]
    fn the_database_string_names_the_backend() {
        let pg = |s: &str| Backend::Pg(s.to_owned());
        let sqlite = |s: &str| Backend::Sqlite(s.to_owned());
        assert_eq!(
            Backend::from_database("postgres://u@h:5432/db"),
            pg("postgres://u@h:5432/db")
        );
        assert_eq!(Backend::from_database("postgresql://u@h/db"), pg("postgresql://u@h/db"));
        assert_eq!(Backend::from_database("sqlite:///tmp/x.db"), sqlite("/tmp/x.db"));
        assert_eq!(Backend::from_database("chatpulse.db"), sqlite("chatpulse.db"));
        assert_eq!(Backend::from_database("postgres.db"), sqlite("postgres.db"));
    }

    /// Requests larger than one INSERT, with repeated event ids inside and across requests:
    /// every message is answered with the id of the row that holds it. On both backends.
    mod multi_row_inserts_answer_each_message_with_its_row {
        use super::*;

        #[test]
        fn sqlite() {
            let dir = tempfile::tempdir().unwrap();
            check(&Store::open(dir.path().join("t.db").to_str().unwrap(), 2).unwrap());
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            check(&Store::open(&url, 2).unwrap());
            assert!(dir.path().join("t.db").exists(), "sqlite://PATH opens PATH");
        }

        #[test]
        fn postgres() {
            let db = pg_tests::TestDb::new();
            check(&Store::open(&db.url, 2).unwrap());
            assert_eq!(Store::open(&db.url, 1).unwrap().sqlite_path(), None);
        }
    }

    fn check(store: &Store) {
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
        let t = totals(&mut conn).unwrap();
        assert_eq!(
            (t.total_messages, t.total_channels, t.total_users),
            ((n + 3) as i64, 7, 13)
        );
        assert_eq!(t.cursor, *b.ids.iter().max().unwrap());
    }
}
