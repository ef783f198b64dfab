//! `TestApp`: the real server on a fresh temporary database, for one test.
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::server::{server_bin, ServerLog, ServerProcess, ServerSettings};

impl ServerSettings {
    /// Starts the server with these settings on a fresh temporary database.
    pub async fn start(self) -> TestApp {
        let dir = tempfile::tempdir().expect("create temp dir");
        let db = dir.path().join("test.db");
        let bin = server_bin();
        let log = Arc::new(ServerLog::default());
        let server = self.launch(&bin, "127.0.0.1:0", &db, log).await;
        let api = Api::new(server.base.clone());
        TestApp {
            _dir: dir,
            db,
            bin,
            settings: self,
            server,
            api,
        }
    }
}

/// A running server on its own temporary database. When it is dropped at the end of a
/// test that did not fail otherwise, the test fails if the server logged an error,
/// unless the test declared it with [`ServerSettings::expect_errors`].
pub struct TestApp {
    _dir: tempfile::TempDir,
    db: PathBuf,
    bin: PathBuf,
    /// What the server was started with, for restarts.
    settings: ServerSettings,
    server: ServerProcess,
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

    pub fn db_path(&self) -> &Path {
        &self.db
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
            .launch(&self.bin, bind, &self.db, self.server.log.clone())
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
