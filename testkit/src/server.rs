//! The one launcher of the real `chatpulse` binary, used by every test binary (through
//! [`crate::TestApp`]) and by the load generator: typed settings that map to the server's
//! own flags, the address learnt from its `listening on http://ADDR` line, readiness by
//! polling `GET /healthz`, and its log kept (errors apart) for failure messages.
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Log lines kept per server: enough for any failure message, bounded for long runs.
const LOG_LINES_KEPT: usize = 4000;
/// From spawn to `/healthz` answering 200.
const START_WITHIN: Duration = Duration::from_secs(30);

/// The server binary built beside the running executable: integration tests live in
/// `target/<profile>/deps/`, the load generator in `target/<profile>/`.
/// A user token for `name` signed with `secret`, from `chatpulse token` itself.
pub fn user_token(secret: &str, name: &str, admin: bool) -> String {
    let mut cmd = std::process::Command::new(server_bin());
    cmd.args(["token", name, "--token-secret", secret]);
    if admin {
        cmd.arg("--admin");
    }
    let out = cmd
        .env_remove("CHATPULSE_TOKEN_SECRET")
        .output()
        .expect("run chatpulse token");
    assert!(
        out.status.success(),
        "chatpulse token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("a token is ASCII")
        .trim()
        .to_owned()
}

pub fn server_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    let name = format!("chatpulse{}", std::env::consts::EXE_SUFFIX);
    [dir.join(&name), dir.join("..").join(&name)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the server binary `{name}` is not built next to {}: run `cargo test` (or `cargo build`) \
                 from the workspace root, which builds it",
                exe.display()
            )
        })
}

/// The settings of `chatpulse serve`, typed; each maps to the server's flag of the same
/// name (`src/config.rs`). Unset settings keep the server's defaults.
#[derive(Clone, Debug, Default)]
pub struct ServerSettings {
    args: Vec<String>,
    /// `--database`, when set by [`ServerSettings::database_url`]: it wins over the
    /// database [`ServerSettings::launch`] is given.
    pub(crate) database: Option<String>,
    /// `--bus`, kept apart as well so that a test's end can delete its keys.
    pub(crate) bus: Option<String>,
    /// The test declared that the server will log errors (see [`crate::TestApp`]'s drop).
    pub(crate) expect_errors: bool,
    /// Tests run the server apart from the environment of whoever runs them (no
    /// `CHATPULSE_*` settings leak in, the log is at info); the load generator does not.
    pub(crate) isolated: bool,
}

macro_rules! settings {
    ($($(#[$doc:meta])* $method:ident: $ty:ty => $flag:literal;)*) => {
        impl ServerSettings {
            $(
                $(#[$doc])*
                pub fn $method(self, value: $ty) -> Self {
                    self.setting($flag, value.to_string())
                }
            )*
        }
    };
}

settings! {
    /// `--ingest-token`: bearer token required on every write.
    ingest_token: &str => "--ingest-token";
    /// `--allowed-origins`: comma-separated origins allowed to open WebSockets.
    allowed_origins: &str => "--allowed-origins";
    /// `--public-origin`: comma-separated origins people reach the server by.
    public_origin: &str => "--public-origin";
    /// `--trusted-proxies`: comma-separated proxy addresses whose forwarded headers count.
    trusted_proxies: &str => "--trusted-proxies";
    /// `--catchup-batch`: events per catch-up batch.
    catchup_batch: u32 => "--catchup-batch";
    /// `--catchup-max`: largest backlog sent to a resuming client.
    catchup_max: u32 => "--catchup-max";
    /// `--queue-bytes`: unsent bytes one live connection may hold.
    queue_bytes: u64 => "--queue-bytes";
    /// `--write-timeout-ms`: a socket accepting nothing this long is disconnected.
    write_timeout_ms: u64 => "--write-timeout-ms";
    /// `--send-buffer-bytes`: SO_SNDBUF of live sockets.
    send_buffer_bytes: usize => "--send-buffer-bytes";
    /// `--coalesce-ms`: window in which count updates are merged.
    coalesce_ms: u64 => "--coalesce-ms";
    /// `--idle-after-ms`: a live connection with no event this long gets `idle`.
    idle_after_ms: u64 => "--idle-after-ms";
    /// `--max-connections`: live connections served at once.
    max_connections: usize => "--max-connections";
    /// `--ingest-queue`: messages accepted and waiting for commit.
    ingest_queue: u64 => "--ingest-queue";
    /// `--max-body-bytes`: largest ingest request body.
    max_body_bytes: usize => "--max-body-bytes";
    /// `--max-bodies-bytes`: bytes all ingest bodies being read may hold at once.
    max_bodies_bytes: usize => "--max-bodies-bytes";
    /// `--max-batch`: most messages in one ingest request.
    max_batch: u64 => "--max-batch";
    /// `--workers`: HTTP worker threads.
    workers: usize => "--workers";
    /// `--bus-maxlen`: entries kept in the bus stream (approximate trim).
    bus_maxlen: u64 => "--bus-maxlen";
    /// `--node-id`: names the node in logs, bus entries and `/healthz`.
    node_id: &str => "--node-id";
    /// `--db-pool`: connections in the read pool.
    db_pool: u32 => "--db-pool";
    /// `--token-secret`: the secret user tokens are signed with.
    token_secret: &str => "--token-secret";
}

impl ServerSettings {
    /// Settings for a server under test (see `isolated`).
    pub(crate) fn isolated() -> Self {
        ServerSettings {
            isolated: true,
            ..ServerSettings::default()
        }
    }

    fn setting(mut self, flag: &str, value: String) -> Self {
        self.args.push(flag.to_string());
        self.args.push(value);
        self
    }

    /// `--database`: this database (a SQLite path, or `postgres://USER@HOST:PORT/DB`)
    /// instead of the one the launcher would give, e.g. several servers on one PostgreSQL
    /// database. The caller owns it: nothing creates or drops it.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database = Some(url.into());
        self
    }

    /// `--bus`: join the Redis Streams bus at `url` (`redis://HOST:PORT[/N]`). A
    /// [`crate::TestApp`] deletes its database's keys (`chatpulse:<epoch>:*`) there when dropped.
    pub fn bus(mut self, url: impl Into<String>) -> Self {
        self.bus = Some(url.into());
        self
    }

    /// The `--bus` URL, if set.
    pub fn bus_url(&self) -> Option<&str> {
        self.bus.as_deref()
    }

    /// `--demo`: synthetic chat through the ingest path.
    pub fn demo(mut self) -> Self {
        self.args.push("--demo".into());
        self
    }

    /// Flags passed through as given, after the typed ones (the load generator's
    /// `--server-arg`); a repeated flag overrides an earlier one.
    pub fn raw_args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// This server is expected to log errors: the test provokes them on purpose.
    pub fn expect_errors(mut self) -> Self {
        self.expect_errors = true;
        self
    }

    /// The flags after `serve --bind ADDR --database DB [--bus URL]`.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Starts `bin` on `database` (a SQLite path or a `postgres://` URL; one set with
    /// [`ServerSettings::database_url`] wins), bound to `bind`, and waits until it is
    /// ready. The command line is logged first in `log` (and, for a test, on stderr).
    pub async fn launch(
        &self,
        bin: &Path,
        bind: &str,
        database: impl AsRef<OsStr>,
        log: Arc<ServerLog>,
    ) -> ServerProcess {
        let cmd = self.command(bin, bind, database.as_ref());
        // What was started, first in the log; a test also shows it (captured unless it fails).
        let line = format!("testkit: starting {}", command_line(&cmd));
        if self.isolated {
            eprintln!("{line}");
        }
        log.push(line);
        ServerProcess::start(cmd, log).await
    }
}

impl ServerSettings {
    /// `bin serve --bind BIND --database DB [--bus URL] FLAGS...`, with the environment of a
    /// test's server when isolated.
    pub fn command(&self, bin: &Path, bind: &str, database: &OsStr) -> Command {
        let database = self.database.as_deref().map_or(database, OsStr::new);
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg("--bind").arg(bind).arg("--database").arg(database);
        if let Some(bus) = &self.bus {
            cmd.arg("--bus").arg(bus);
        }
        cmd.args(&self.args);
        if self.isolated {
            clear_chatpulse_env(&mut cmd);
            cmd.env("RUST_LOG", "info");
        }
        cmd
    }
}

/// What a server wrote to stdout and stderr, shared across its restarts.
#[derive(Default)]
pub struct ServerLog {
    lines: Mutex<VecDeque<String>>,
    /// Every line logged at `ERROR` (env_logger's `[time ERROR target] message`), kept
    /// apart so that none scrolls out before the test's end looks at them.
    errors: Mutex<Vec<String>>,
}

impl ServerLog {
    fn push(&self, line: String) {
        if is_error_line(&line) {
            self.errors.lock().unwrap().push(line.clone());
        }
        let mut lines = self.lines.lock().unwrap();
        if lines.len() >= LOG_LINES_KEPT {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap();
        let skip = lines.len().saturating_sub(n);
        lines.iter().skip(skip).cloned().collect::<Vec<_>>().join("\n")
    }

    /// Every line logged at `ERROR` so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

/// env_logger's default format is `[<time> <LEVEL> <target>] <message>`: the level is the
/// second word, so a message that merely mentions ERROR is not an error.
fn is_error_line(line: &str) -> bool {
    line.starts_with('[') && line.split_whitespace().nth(1) == Some("ERROR")
}

/// A running `chatpulse` process. Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    /// `http://ADDR`, from the server's own `listening on` line.
    pub base: String,
    pub log: Arc<ServerLog>,
    /// Set once the process is known to have exited, so it is never waited on twice.
    exit: Option<ExitStatus>,
}

impl ServerProcess {
    /// Spawns `cmd` (a `chatpulse serve ...` command), learns its address from its log
    /// and polls `/healthz` until it answers 200. Panics with the log if it never does.
    pub async fn start(mut cmd: Command, log: Arc<ServerLog>) -> ServerProcess {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if std::env::var_os("RUST_LOG").is_none() {
            // The `listening on` line is logged at info.
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start server {:?}: {e}", cmd.get_program()));
        let (tx, rx) = mpsc::channel::<String>();
        drain(child.stderr.take().unwrap(), log.clone(), tx.clone());
        drain(child.stdout.take().unwrap(), log.clone(), tx);
        let mut server = ServerProcess {
            child,
            base: String::new(),
            log,
            exit: None,
        };
        let deadline = Instant::now() + START_WITHIN;
        let client = awc::Client::builder().timeout(Duration::from_secs(2)).finish();
        loop {
            if server.base.is_empty() {
                if let Some(addr) = rx.try_iter().find_map(|line| parse_listening(&line)) {
                    server.base = format!("http://{addr}");
                }
            }
            if !server.base.is_empty() {
                if let Ok(res) = client.get(format!("{}/healthz", server.base)).send().await {
                    if res.status().as_u16() == 200 {
                        return server;
                    }
                }
            }
            if let Some(status) = server.try_exit() {
                // Give the drain threads a moment to collect the last words.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "chatpulse exited with {status} before it was ready; log:\n{}",
                    server.log.tail(100)
                );
            }
            if Instant::now() > deadline {
                server.kill();
                panic!(
                    "chatpulse was not listening with `/healthz` answering 200 within {START_WITHIN:?}; log:\n{}",
                    server.log.tail(100)
                );
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn host_port(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("try_wait on chatpulse");
        }
        self.exit
    }

    /// Sends SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            self.exit = Some(self.child.wait().expect("wait after kill"));
        }
    }

    /// SIGTERM, then up to `grace` for the graceful shutdown (blocking), then SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        if self.try_exit().is_some() {
            return;
        }
        self.send_sigterm();
        let deadline = Instant::now() + grace;
        while self.try_exit().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads a pipe of the server for its whole life (so it never blocks on a full pipe),
/// into the log and to whoever waits for the `listening on` line.
fn drain(pipe: impl Read + Send + 'static, log: Arc<ServerLog>, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                    log.push(line.clone());
                    let _ = tx.send(line);
                }
            }
        }
    });
}

fn parse_listening(line: &str) -> Option<String> {
    const MARK: &str = "listening on http://";
    let at = line.find(MARK)?;
    let addr: String = line[at + MARK.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '/')
        .collect();
    (!addr.is_empty()).then_some(addr)
}

/// `cmd` as a shell would show it, for the log.
pub fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes every `CHATPULSE_*` variable from `cmd`'s environment.
fn clear_chatpulse_env(cmd: &mut Command) {
    let keys: Vec<OsString> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("CHATPULSE_"))
        .collect();
    for key in keys {
        cmd.env_remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launches_with_the_typed_flags() {
        let settings = ServerSettings::isolated()
            .catchup_batch(7)
            .bus("redis://127.0.0.1:6390")
            .bus_maxlen(1000)
            .node_id("node-1")
            .db_pool(4);
        let cmd = settings.command(Path::new("/bin/chatpulse"), "127.0.0.1:0", OsStr::new("/tmp/x.db"));
        assert_eq!(
            command_line(&cmd),
            "/bin/chatpulse serve --bind 127.0.0.1:0 --database /tmp/x.db --bus redis://127.0.0.1:6390 \
             --catchup-batch 7 --bus-maxlen 1000 --node-id node-1 --db-pool 4"
        );
        let url = "postgres://postgres@127.0.0.1:5432/chatpulse_t_00";
        let cmd = settings
            .database_url(url)
            .command(Path::new("chatpulse"), "127.0.0.1:0", OsStr::new("ignored.db"));
        let line = command_line(&cmd);
        assert!(line.contains(&format!(" --database {url} ")), "{line}");
        assert!(!line.contains("ignored.db"), "{line}");
        assert_eq!(line.matches("--database").count(), 1, "{line}");
        assert_eq!(
            command_line(Command::new("redis-server").args(["--save", "", "--dir", "/a b"])),
            "redis-server --save '' --dir '/a b'"
        );
    }

    #[test]
    fn keeps_env_logger_error_lines_apart() {
        let log = ServerLog::default();
        log.push("[2026-12-06T05:10:03Z INFO  chatpulse] listening on http://127.0.0.1:39863".into());
        log.push("[2026-12-06T05:10:08Z ERROR chatpulse] fatal: cannot open x.db".into());
        log.push("[2026-12-06T05:10:09Z WARN  chatpulse::web] ERROR in a message text".into());
        assert_eq!(
            log.errors(),
            vec!["[2026-12-06T05:10:08Z ERROR chatpulse] fatal: cannot open x.db"]
        );
        assert_eq!(
            log.tail(1),
            "[2026-12-06T05:10:09Z WARN  chatpulse::web] ERROR in a message text"
        );
        assert_eq!(
            parse_listening("[t INFO  chatpulse] listening on http://127.0.0.1:39863").as_deref(),
            Some("127.0.0.1:39863")
        );
    }
}
