//! The server under test: spawned through the shared harness (`chatpulse-testkit`) on a
//! fresh temporary database for every run, or one already running (`--url`).
use std::process::Command;
use std::sync::Arc;

use chatpulse_testkit::{PgDatabase, Redis, ServerLog, ServerProcess, ServerSettings};

use crate::prelude::*;

pub(crate) struct Server {
    /// `None` for a server given by `--url`, which this tool does not own.
    process: Option<ServerProcess>,
    pub(crate) base: String,
    /// For CPU time and resident memory from /proc.
    pid: Option<u32>,
    /// Holds the spawned server's database until the run ends.
    dir: Option<tempfile::TempDir>,
}

/// The server binary: `--server-bin`, or `chatpulse` next to this tool.
pub(crate) fn server_bin(common: &Common) -> std::path::PathBuf {
    common.server_bin.clone().unwrap_or_else(|| {
        let me = std::env::current_exe().expect("current exe");
        me.with_file_name("chatpulse")
    })
}

/// A user token for `name`, from the server binary's `token` command.
pub(crate) fn user_token(common: &Common, secret: &str, name: &str) -> String {
    let out = Command::new(server_bin(common))
        .args(["token", name, "--token-secret", secret, "--ttl", "1d"])
        .env_remove("CHATPULSE_TOKEN_SECRET")
        .output()
        .expect("run chatpulse token");
    assert!(
        out.status.success(),
        "chatpulse token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A fresh temporary directory for one run's database.
pub(crate) fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("chatpulse-bench-{tag}-"))
        .tempdir()
        .expect("create temp dir")
}

impl Server {
    /// The server of one run, serving at least `max_connections` live connections when given.
    pub(crate) async fn start(common: &Common, max_connections: Option<usize>) -> Server {
        if let Some(url) = &common.url {
            let url = url.trim_end_matches('/').to_string();
            let host = url.trim_start_matches("http://");
            assert!(
                host.starts_with("127.") || host.starts_with("localhost"),
                "--url must be a loopback address (127.0.0.x): {url}"
            );
            return Server::at(url, common.server_pid);
        }
        let dir = temp_dir("server");
        let db = dir.path().join("bench.db");
        let settings = base_settings(max_connections).raw_args(common.server_args.iter().cloned());
        Server::spawn(common, settings, db.as_os_str(), Some(dir)).await
    }

    /// Spawns the server binary with `settings` on `database` (a SQLite path, or any
    /// database when `settings` names one with `database_url`).
    async fn spawn(
        common: &Common,
        settings: ServerSettings,
        database: &std::ffi::OsStr,
        dir: Option<tempfile::TempDir>,
    ) -> Server {
        let bin = server_bin(common);
        let log = Arc::new(ServerLog::default());
        let process = settings.launch(&bin, "127.0.0.1:0", database, log).await;
        Server {
            base: process.base.clone(),
            pid: Some(process.pid()),
            process: Some(process),
            dir,
        }
    }

    /// A server this tool did not start and will not stop.
    pub(crate) fn at(base: String, pid: Option<u32>) -> Server {
        Server {
            process: None,
            base,
            pid,
            dir: None,
        }
    }

    /// The bytes of the SQLite database this tool made for the server (its WAL included);
    /// `None` for a server given by `--url`.
    pub(crate) fn database_bytes(&self) -> Option<u64> {
        let dir = self.dir.as_ref()?;
        let files = std::fs::read_dir(dir.path()).ok()?;
        Some(files.filter_map(|f| f.ok()?.metadata().ok()).map(|m| m.len()).sum())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub(crate) fn cpu_secs(&self) -> Option<f64> {
        self.pid.and_then(proc_cpu_secs)
    }

    pub(crate) fn rss_bytes(&self) -> Option<f64> {
        self.pid.and_then(proc_rss_bytes)
    }

    /// SIGTERM, up to 20 s of graceful shutdown, then SIGKILL.
    pub(crate) fn stop(mut self) {
        if let Some(p) = self.process.as_mut() {
            p.stop(Duration::from_secs(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(p) = self.process.as_mut() {
            if std::thread::panicking() {
                eprintln!("server log tail:\n{}", p.log.tail(200));
            }
            p.stop(Duration::from_secs(20));
        }
    }
}

/// The typed settings every spawned server gets (before `--server-arg`s).
fn base_settings(max_connections: Option<usize>) -> ServerSettings {
    let settings = ServerSettings::default();
    match max_connections {
        Some(n) => settings.max_connections(n),
        None => settings,
    }
}

/// Which database the spawned servers run on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DbBackend {
    /// A fresh SQLite file in a temporary directory (the default).
    Sqlite,
    /// A fresh database on the PostgreSQL of `--pg-admin-url`.
    Postgres,
}

pub(crate) fn backend_name(b: DbBackend) -> &'static str {
    match b {
        DbBackend::Sqlite => "sqlite",
        DbBackend::Postgres => "postgres",
    }
}

/// A fresh PostgreSQL database of one run on the server of `--pg-admin-url` (testkit's
/// `PgDatabase`: created empty, dropped `WITH (FORCE)` when dropped).
pub(crate) fn pg_database(common: &Common) -> PgDatabase {
    PgDatabase::create_on(&common.pg_admin_url)
}

/// The servers of one run: one server as `Server::start` gives it, or N nodes on one
/// fresh PostgreSQL database joined by the Redis bus of `--redis-url` (PROTOCOL.md
/// section 7; node `i` runs with `--node-id node-<i>`). Dropping it stops every node,
/// deletes the run's bus keys (`chatpulse:<epoch>:*`) and then drops the database.
pub(crate) struct Cluster {
    nodes: Vec<Server>,
    /// The bus URL and the database's epoch, whose keys go at the end.
    bus: Option<(String, String)>,
    db: Option<PgDatabase>,
}

impl Cluster {
    /// `nodes` servers on `backend`; more than one node needs PostgreSQL and gets the bus.
    pub(crate) async fn start(
        common: &Common,
        nodes: usize,
        backend: DbBackend,
        max_connections: Option<usize>,
    ) -> Cluster {
        assert!(nodes >= 1, "--nodes must be at least 1");
        if backend == DbBackend::Sqlite {
            assert!(nodes == 1, "several nodes need PostgreSQL (--backend postgres)");
            return Cluster {
                nodes: vec![Server::start(common, max_connections).await],
                bus: None,
                db: None,
            };
        }
        assert!(
            common.url.is_none(),
            "--url drives one server on its own database; PostgreSQL and several nodes are spawned"
        );
        let db = pg_database(common);
        let bus = (nodes > 1).then(|| common.redis_url.clone());
        let mut servers = Vec::with_capacity(nodes);
        for i in 0..nodes {
            let mut settings = base_settings(max_connections)
                .node_id(&format!("node-{i}"))
                .database_url(db.url());
            if let Some(url) = &bus {
                settings = settings.bus(url.clone());
            }
            let settings = settings.raw_args(common.server_args.iter().cloned());
            servers.push(Server::spawn(common, settings, std::ffi::OsStr::new(""), None).await);
        }
        let mut cluster = Cluster {
            nodes: servers,
            bus: None,
            db: Some(db),
        };
        if let Some(url) = bus {
            let probe = http_client(2, Some(Duration::from_secs(30)), None);
            let epoch = api_metrics(&probe, &cluster.nodes[0]).await["epoch"]
                .as_str()
                .expect("/api/metrics has the epoch")
                .to_string();
            cluster.bus = Some((url, epoch));
        }
        cluster
    }

    pub(crate) fn node(&self, i: usize) -> &Server {
        &self.nodes[i]
    }

    pub(crate) fn nodes(&self) -> &[Server] {
        &self.nodes
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// SIGKILL node `i` by its pid (no graceful shutdown, as `kill -9`); it is reaped
    /// when the cluster stops.
    pub(crate) fn kill9(&self, i: usize) {
        let pid = self.nodes[i].pid().expect("a spawned node has a pid");
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("run kill -KILL");
        assert!(status.success(), "kill -KILL {pid} failed: {status}");
    }

    /// Stops every node, deletes the bus keys, drops the database.
    pub(crate) fn stop(self) {}
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in std::mem::take(&mut self.nodes) {
            node.stop();
        }
        if let Some((url, epoch)) = self.bus.take() {
            let pattern = format!("chatpulse:{epoch}:*");
            match Redis::try_connect(&url).and_then(|r| {
                let keys: Vec<String> = r.try_cmd(&["KEYS", &pattern])?;
                keys.iter().try_for_each(|k| r.try_cmd::<()>(&["DEL", k]))
            }) {
                Ok(()) => debug(&format!("deleted {pattern} from {url}")),
                Err(e) => eprintln!("chatpulse-bench: could not delete {pattern} from {url}: {e}"),
            }
        }
        // The database goes last, after its servers.
        self.db.take();
    }
}

pub(crate) fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds.
pub(crate) fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clk_tck())
}

pub(crate) fn proc_rss_bytes(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}
