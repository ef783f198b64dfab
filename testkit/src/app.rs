//! `TestApp`: the real server on a fresh database, for one test: a temporary SQLite file,
//! or with `CHATPULSE_TEST_DATABASE=postgres` a PostgreSQL database of its own.
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::server::{server_bin, ServerLog, ServerProcess, ServerSettings};
use crate::services::{delete_bus_keys, Backend, PgDatabase};

impl ServerSettings {
    /// Starts the server with these settings on a fresh database of the backend
    /// `CHATPULSE_TEST_DATABASE` selects (or on the one set with
    /// [`ServerSettings::database_url`]).
    pub async fn start(self) -> TestApp {
        let db = if self.database.is_some() {
            TestDatabase::Given
        } else {
            TestDatabase::fresh(Backend::from_env())
        };
        let mut app = TestApp::launch(self, db).await;
        app.learn_epoch_for_cleanup().await;
        app
    }
}

/// The database under a [`TestApp`].
pub(crate) enum TestDatabase {
    /// A SQLite file in a temporary directory, removed when dropped.
    Sqlite { _dir: tempfile::TempDir, path: PathBuf },
    /// A PostgreSQL database of its own, dropped when dropped.
    Postgres(PgDatabase),
    /// Set with [`ServerSettings::database_url`]: someone else's (a cluster's, say).
    Given,
}

impl TestDatabase {
    pub(crate) fn fresh(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("create temp dir");
                let path = dir.path().join("test.db");
                TestDatabase::Sqlite { _dir: dir, path }
            }
            Backend::Postgres => TestDatabase::Postgres(PgDatabase::create()),
        }
    }

    /// What `--database` gets (ignored for `Given`, whose URL is in the settings).
    fn arg(&self) -> String {
        match self {
            TestDatabase::Sqlite { path, .. } => path.to_string_lossy().into_owned(),
            TestDatabase::Postgres(db) => db.url(),
            TestDatabase::Given => String::new(),
        }
    }
}

/// A running server on its own fresh database. When it is dropped at the end of a test
/// that did not fail otherwise, the test fails if the server logged an error, unless the
/// test declared it with [`ServerSettings::expect_errors`]. Then the process is killed,
/// and only after that its database removed (a PostgreSQL one dropped), and when it ran
/// with a bus, its database's keys deleted from Redis.
pub struct TestApp {
    // Fields drop in this order: the process before its database.
    server: ServerProcess,
    db: TestDatabase,
    bin: PathBuf,
    /// What the server was started with, for restarts.
    settings: ServerSettings,
    /// The database's epoch, learnt at start when the server runs with a bus that this
    /// app cleans up (its keys are `chatpulse:<epoch>:*`).
    bus_epoch: Option<String>,
    pub api: Api,
}

impl Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    /// Typed settings of the server to start: `TestApp::builder().catchup_batch(200).start()`.
    pub fn builder() -> ServerSettings {
        ServerSettings::isolated()
    }

    pub async fn start() -> TestApp {
        TestApp::builder().start().await
    }

    /// Starts `settings` on `db`, not waiting for anything but readiness.
    pub(crate) async fn launch(settings: ServerSettings, db: TestDatabase) -> TestApp {
        let bin = server_bin();
        let log = Arc::new(ServerLog::default());
        let server = settings.launch(&bin, "127.0.0.1:0", db.arg(), log).await;
        let api = Api::new(server.base.clone());
        TestApp {
            server,
            db,
            bin,
            settings,
            bus_epoch: None,
            api,
        }
    }

    /// With a bus and a database of its own, remembers the epoch whose keys to delete at
    /// the end (a cluster does that itself, once, for all its nodes).
    async fn learn_epoch_for_cleanup(&mut self) {
        if self.settings.bus.is_some() && !matches!(self.db, TestDatabase::Given) {
            self.bus_epoch = self.api.try_epoch().await;
        }
    }

    /// The backend this server runs on.
    pub fn backend(&self) -> Backend {
        match &self.db {
            TestDatabase::Sqlite { .. } => Backend::Sqlite,
            TestDatabase::Postgres(_) => Backend::Postgres,
            TestDatabase::Given => {
                let url = self.database_url();
                if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    Backend::Postgres
                } else {
                    Backend::Sqlite
                }
            }
        }
    }

    /// What the server's `--database` is, on either backend: the SQLite file's path or
    /// the `postgres://` URL.
    pub fn database_url(&self) -> String {
        match &self.settings.database {
            Some(url) => url.clone(),
            None => self.db.arg(),
        }
    }

    /// The PostgreSQL database of this app, when it has its own.
    pub fn pg_database(&self) -> Option<&PgDatabase> {
        match &self.db {
            TestDatabase::Postgres(db) => Some(db),
            _ => None,
        }
    }

    /// The SQLite file. Panics on PostgreSQL: a test that opens the file itself does not
    /// apply there; start it with `if skip_on_postgres("why") { return; }`, or use
    /// the backend-neutral [`TestApp::database_url`].
    pub fn db_path(&self) -> &Path {
        match &self.db {
            TestDatabase::Sqlite { path, .. } => path,
            _ => panic!(
                "TestApp::db_path(): this server runs on {} ({}), not on a SQLite file; a test that \
                 opens the SQLite file itself should begin with \
                 `if skip_on_postgres(\"why\") {{ return; }}`",
                self.backend(),
                self.database_url()
            ),
        }
    }

    /// The settings this server was started with.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    pub fn base(&self) -> &str {
        &self.api.base
    }

    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// Last lines the server wrote to stderr/stdout.
    pub fn log_tail(&self, lines: usize) -> String {
        self.server.log.tail(lines)
    }

    /// Sends SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        self.server.send_sigterm();
    }

    /// Waits (without blocking the runtime) for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.server.try_exit() {
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "chatpulse did not exit within {timeout:?} after being told to; log:\n{}",
                    self.log_tail(60)
                );
            }
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGTERM and wait for the graceful shutdown to finish.
    pub async fn sigterm(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_exit(Duration::from_secs(40)).await
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        self.server.kill();
    }

    async fn relaunch(&self, bind: &str) -> ServerProcess {
        self.settings
            .launch(&self.bin, bind, self.db.arg(), self.server.log.clone())
            .await
    }

    /// Starts the server again with the same flags on the same database (on
    /// a new port). Stops the old process first if it is still running.
    pub async fn restart(&mut self) {
        if self.server.try_exit().is_none() {
            self.sigterm().await;
        }
        self.server = self.relaunch("127.0.0.1:0").await;
        self.api = Api::new(self.server.base.clone());
    }

    /// Starts the server again with the same flags on the same database and the same
    /// address, as a browser page that stays open expects. The old process must have
    /// exited (see [`TestApp::sigterm`], [`TestApp::kill9`]).
    pub async fn restart_on_same_address(&mut self) {
        assert!(
            self.server.try_exit().is_some(),
            "restart_on_same_address: stop the running server first"
        );
        let server = self.relaunch(self.api.host_port()).await;
        assert_eq!(server.base, self.api.base, "the server came back on another address");
        self.server = server;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Whatever happens below: the process exits, then (field drops) its database goes.
        self.server.kill();
        if let (Some(url), Some(epoch)) = (self.settings.bus.as_deref(), self.bus_epoch.as_deref()) {
            delete_bus_keys(url, epoch);
        }
        if std::thread::panicking() {
            eprintln!(
                "---- chatpulse log (last 80 lines) ----\n{}\n---- end of log ----",
                self.log_tail(80)
            );
            return;
        }
        let errors = self.server.log.errors();
        if !errors.is_empty() && !self.settings.expect_errors {
            panic!(
                "chatpulse logged {} error(s) during the test (declare `.expect_errors()` if the test \
                 provokes them):\n{}\n---- chatpulse log (last 80 lines) ----\n{}",
                errors.len(),
                errors.join("\n"),
                self.log_tail(80)
            );
        }
    }
}
