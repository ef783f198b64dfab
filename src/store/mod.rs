//! All SQL lives here, one file per table and per job: handlers and actors call these
//! typed functions. Writes come only from the ingest actor through
//! [`Store::insert_batches`] (`write.rs`).
pub mod channels;
pub mod ids;
pub mod messages;
pub mod meta;
pub mod pages;
pub mod schema;
mod search;
pub mod users;
mod write;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use channels::{channel_by_name, channels_changed_after, list_channels, Channel};
pub use ids::{ChannelId, Cursor, MessageId, UserId};
pub use messages::{backlog_exceeds, list_messages, Message, MessageFilter, NewMessage};
pub use meta::{ping, totals, Totals};
pub use search::{parse_query, search_messages, InvalidQuery};
pub use users::{list_users, user_by_name, users_changed_after, User, UserSort};
pub use write::{committed_between, Committed, RequestOutcome, INSERT_ROWS};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
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
        let open_error = |reason: String| StoreError::Open {
            path: path.to_owned(),
            reason,
        };
        // WAL lets readers run beside the single writer. Switching to it needs the file to
        // itself, so it happens here once, before the pool opens its connections at once.
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
        let epoch = meta::epoch(&mut conn)?;
        Ok(Store { pool, epoch })
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub fn conn(&self) -> StoreResult<Conn> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` in one read transaction on a pooled connection, off the async threads:
    /// everything it reads (data and cursor alike) comes from one snapshot.
    pub async fn snapshot<T, E>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + From<diesel::result::Error> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            (*conn).transaction(f)
        })
        .await
        .map_err(|e| StoreError::Interrupted(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
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
