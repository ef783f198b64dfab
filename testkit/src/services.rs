//! PostgreSQL and Redis for the tests: which backend a test binary runs on
//! (`CHATPULSE_TEST_DATABASE`), a fresh PostgreSQL database per test, the PostgreSQL and
//! Redis the tests share (the machine's own on the default ports, or ones this test binary
//! starts itself where nothing answers there), a test's own `redis-server` it can kill and
//! restart, and a small synchronous Redis client for reading and editing the bus.
//!
//! Services this binary starts itself are spawned from one thread that lives as long as the
//! process, with `PR_SET_PDEATHSIG = SIGKILL`: the kernel kills them when the test binary
//! dies, even by SIGKILL. The shared ones are also stopped at a normal exit (libtest returns
//! from `main` or calls `process::exit`; both run libc's `atexit` handlers), which also
//! removes their temporary directories.
use std::fmt;
use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, QueryableByName, RunQueryDsl};

/// Selects the backend of every [`crate::TestApp`]: `sqlite` (default) or `postgres`.
pub const DATABASE_ENV: &str = "CHATPULSE_TEST_DATABASE";
/// Set to `1` to make this test binary start its own PostgreSQL and Redis even where the
/// machine's own answer on 5432 and 6379.
pub const OWN_SERVICES_ENV: &str = "CHATPULSE_TEST_OWN_SERVICES";
/// The machine's PostgreSQL, used when it answers (trust auth for `postgres` on loopback).
pub const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The machine's Redis, used when it answers.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Every database this harness creates starts with this (`chatpulse_t_<16 hex>`).
pub const TEST_DATABASE_PREFIX: &str = "chatpulse_t_";

const SERVICE_START_WITHIN: Duration = Duration::from_secs(60);

/// The store a test server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `CHATPULSE_TEST_DATABASE`: unset, empty or `sqlite` is SQLite, `postgres` PostgreSQL;
    /// anything else panics (a typo must not silently run the suite on SQLite).
    pub fn from_env() -> Backend {
        let value = std::env::var(DATABASE_ENV).unwrap_or_default();
        Backend::parse(&value)
            .unwrap_or_else(|| panic!("{DATABASE_ENV}={value:?}: expected `sqlite` (the default) or `postgres`"))
    }

    /// The value of `CHATPULSE_TEST_DATABASE`, or `None` when it names no backend.
    pub fn parse(value: &str) -> Option<Backend> {
        match value.trim() {
            "" | "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// For a test that looks at the SQLite file itself (or at SQLite's locking): true, with a
/// note on stderr, when the suite runs on PostgreSQL, where the test does not apply.
/// `if skip_on_postgres("holds SQLite's write lock") { return; }`
pub fn skip_on_postgres(why: &str) -> bool {
    let skip = Backend::from_env() == Backend::Postgres;
    if skip {
        let test = std::thread::current().name().unwrap_or("this test").to_string();
        eprintln!("note: {test} skipped on PostgreSQL ({DATABASE_ENV}=postgres): {why}");
    }
    skip
}

fn own_services_forced() -> bool {
    matches!(
        std::env::var(OWN_SERVICES_ENV).as_deref().map(str::trim),
        Ok("1" | "true" | "yes")
    )
}

/// True when something accepts TCP connections at `addr` within a second.
pub fn answers(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .ok()
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

/// A port nothing listens on right now (the kernel's pick, released at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

// ---------------------------------------------------------------------------------------
// Processes that die with the test binary.

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` so that the kernel SIGKILLs it when this process dies. The parent-death
/// signal fires when the *thread* that forked the child ends, and libtest ends a thread
/// per test, so every such child is forked by one thread that lives as long as the process.
pub fn spawn_tied_to_process(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("testkit-services".into())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                for (mut cmd, reply) in rx {
                    let parent = std::process::id() as libc::pid_t;
                    // SAFETY: only async-signal-safe calls between fork and exec. It runs
                    // after std's setuid, which would otherwise clear the signal.
                    unsafe {
                        cmd.pre_exec(move || {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                                return Err(io::Error::last_os_error());
                            }
                            // The parent died between fork and prctl: nobody would kill us.
                            if libc::getppid() != parent {
                                libc::_exit(1);
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("start the testkit-services thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap()
        .send((cmd, reply_tx))
        .expect("testkit-services thread is gone");
    reply_rx.recv().expect("testkit-services thread did not answer")
}

/// Sends `signal` to `child`, waits up to `grace` for it to exit, then SIGKILLs it.
fn stop_child(child: &mut Child, signal: libc::c_int, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The uid and gid of `postgres` when this process runs as root (PostgreSQL refuses to run
/// as root), else `None`: run as whoever we are.
fn postgres_user() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = c"postgres";
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root, and PostgreSQL refuses to run as root: the harness runs it as the \
         `postgres` system user, which does not exist (install the `postgresql` package)"
    );
    let pw = unsafe { &*pw };
    Some((pw.pw_uid, pw.pw_gid))
}

/// Where `initdb` and `postgres` are: `$PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`, else `$PATH`.
fn postgres_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn log_file(dir: &Path, name: &str) -> (File, PathBuf) {
    let path = dir.join(name);
    (File::create(&path).expect("create a service log"), path)
}

fn read_log(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

/// A PostgreSQL server of this test binary's own: `initdb` into a temporary directory, then
/// `postgres` on a free loopback port with trust auth and `fsync=off`, as the `postgres`
/// system user when running as root. Dropping it stops it and removes its directory.
pub struct PostgresServer {
    port: u16,
    child: Mutex<Option<Child>>,
    dir: Mutex<Option<tempfile::TempDir>>,
}

impl PostgresServer {
    /// Starts one and waits until it accepts connections. Panics with its log if it cannot.
    pub fn start() -> PostgresServer {
        let bin = postgres_bin_dir().map(|d| (d.join("initdb"), d.join("postgres")));
        let (initdb, postgres) = bin.unwrap_or_else(|| ("initdb".into(), "postgres".into()));
        let dir = tempfile::Builder::new()
            .prefix("chatpulse-test-pg-")
            .tempdir()
            .expect("create a temp dir for PostgreSQL");
        let user = postgres_user();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the PostgreSQL dir");
        }
        let as_user = |program: &Path| {
            let mut cmd = Command::new(program);
            cmd.current_dir(dir.path()).stdin(Stdio::null());
            if let Some((uid, gid)) = user {
                cmd.uid(uid).gid(gid);
            }
            cmd
        };
        let data = dir.path().join("data");
        let (log, log_path) = log_file(dir.path(), "initdb.log");
        let status = as_user(&initdb)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} (install the `postgresql` package, or set PG_BIN): {e}",
                    initdb.display()
                )
            });
        assert!(status.success(), "initdb failed ({status}):\n{}", read_log(&log_path));
        let port = free_port();
        let (log, log_path) = log_file(dir.path(), "postgres.log");
        let mut cmd = as_user(&postgres);
        cmd.arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=300"])
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = spawn_tied_to_process(cmd).unwrap_or_else(|e| panic!("cannot start {}: {e}", postgres.display()));
        let server = PostgresServer {
            port,
            child: Mutex::new(Some(child)),
            dir: Mutex::new(Some(dir)),
        };
        let deadline = Instant::now() + SERVICE_START_WITHIN;
        loop {
            if PgConnection::establish(&server.admin_url()).is_ok() {
                return server;
            }
            let exited = server.child.lock().unwrap().as_mut().unwrap().try_wait().ok().flatten();
            if let Some(status) = exited {
                panic!("postgres exited with {status} at start; log:\n{}", read_log(&log_path));
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within {SERVICE_START_WITHIN:?}; log:\n{}",
                read_log(&log_path)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin database: `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The postmaster's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(Child::id)
    }

    /// The directory of its data, socket and log, while it runs.
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.lock().unwrap().as_ref().map(|d| d.path().to_path_buf())
    }

    /// Immediate shutdown (SIGQUIT, then SIGKILL after 5 s), then removes its directory.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            stop_child(&mut child, libc::SIGQUIT, Duration::from_secs(5));
        }
        drop(self.dir.lock().unwrap().take());
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The PostgreSQL the tests of this binary share, as an admin URL: the machine's own on
/// 127.0.0.1:5432 when it answers (and [`OWN_SERVICES_ENV`] is not set), else one this test
/// binary starts once ([`PostgresServer`]) and stops at exit.
pub fn postgres_admin_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if !own_services_forced() && answers("127.0.0.1:5432") {
            return DEFAULT_POSTGRES_ADMIN_URL.to_string();
        }
        own_postgres().admin_url()
    })
    .clone()
}

/// The PostgreSQL this binary started itself for [`postgres_admin_url`], if it did.
pub fn own_postgres_if_started() -> Option<&'static PostgresServer> {
    OWN_POSTGRES.get()
}

static OWN_POSTGRES: OnceLock<PostgresServer> = OnceLock::new();
static OWN_REDIS: OnceLock<RedisServer> = OnceLock::new();

fn own_postgres() -> &'static PostgresServer {
    OWN_POSTGRES.get_or_init(|| {
        stop_own_services_at_exit();
        let pg = PostgresServer::start();
        eprintln!(
            "testkit: nothing answered on 127.0.0.1:5432 (or {OWN_SERVICES_ENV}=1): started PostgreSQL \
             for this test binary on port {}",
            pg.port()
        );
        pg
    })
}

/// Registers, once, the `atexit` handler that stops the shared services this binary
/// started (statics are never dropped).
fn stop_own_services_at_exit() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        extern "C" fn stop_own_services() {
            if let Some(pg) = OWN_POSTGRES.get() {
                pg.stop();
            }
            if let Some(redis) = OWN_REDIS.get() {
                redis.stop();
                drop(redis.dir.lock().unwrap().take());
            }
        }
        let rc = unsafe { libc::atexit(stop_own_services) };
        assert_eq!(rc, 0, "atexit failed");
    });
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn admin_connection(admin_url: &str) -> PgConnection {
    PgConnection::establish(admin_url)
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL's admin database {admin_url}: {e}"))
}

/// Whether a database named `name` exists on the server of `admin_url`.
pub fn pg_database_exists(admin_url: &str, name: &str) -> bool {
    let mut conn = admin_connection(admin_url);
    let rows: Vec<Count> = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .load(&mut conn)
        .expect("query pg_database");
    rows.first().is_some_and(|c| c.n > 0)
}

/// A fresh, empty PostgreSQL database of its own (`chatpulse_t_<random hex>`), dropped
/// (`WITH (FORCE)`, so even with connections left) when this is dropped. Drop it after the
/// servers using it have exited.
pub struct PgDatabase {
    name: String,
    admin_url: String,
}

impl PgDatabase {
    /// A new database on the shared PostgreSQL ([`postgres_admin_url`]).
    pub fn create() -> PgDatabase {
        PgDatabase::create_on(&postgres_admin_url())
    }

    /// A new database on the server of `admin_url`.
    pub fn create_on(admin_url: &str) -> PgDatabase {
        let name = format!("{TEST_DATABASE_PREFIX}{:016x}", rand_u64());
        let mut conn = admin_connection(admin_url);
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin_url}: {e}"));
        PgDatabase {
            name,
            admin_url: admin_url.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `postgres://postgres@127.0.0.1:<port>/<name>`: what `--database` gets.
    pub fn url(&self) -> String {
        let server = self.admin_url.rsplit_once('/').map_or(&*self.admin_url, |(s, _)| s);
        format!("{server}/{}", self.name)
    }

    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let result = PgConnection::establish(&self.admin_url)
            .map_err(|e| e.to_string())
            .and_then(|mut c| c.batch_execute(&sql).map_err(|e| e.to_string()));
        if let Err(e) = result {
            let msg = format!("testkit: {sql} on {} failed: {e}", self.admin_url);
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// Random enough for names: the std hasher's random keys, the time and a counter.
fn rand_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut h);
    std::process::id().hash(&mut h);
    std::time::SystemTime::now().hash(&mut h);
    h.finish()
}

// ---------------------------------------------------------------------------------------
// Redis

/// A `redis-server` of a test's own on a free loopback port, without persistence, for
/// tests that kill and restart Redis. Dropping it kills it.
pub struct RedisServer {
    port: u16,
    child: Mutex<Option<Child>>,
    dir: Mutex<Option<tempfile::TempDir>>,
}

impl RedisServer {
    /// Starts one and waits until it answers PING.
    pub fn start() -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("chatpulse-test-redis-")
            .tempdir()
            .expect("create a temp dir for Redis");
        let server = RedisServer {
            port: free_port(),
            child: Mutex::new(None),
            dir: Mutex::new(Some(dir)),
        };
        server.launch();
        server
    }

    fn launch(&self) {
        let dir = self
            .dir
            .lock()
            .unwrap()
            .as_ref()
            .expect("Redis dir")
            .path()
            .to_path_buf();
        let (log, log_path) = log_file(&dir, "redis.log");
        let mut cmd = Command::new("redis-server");
        cmd.current_dir(&dir)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = spawn_tied_to_process(cmd)
            .unwrap_or_else(|e| panic!("cannot start redis-server (install the `redis-server` package): {e}"));
        let deadline = Instant::now() + SERVICE_START_WITHIN;
        loop {
            if Redis::try_connect(&self.url()).is_ok_and(|r| r.ping()) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "redis-server exited with {status} at start on port {}; log:\n{}",
                    self.port,
                    read_log(&log_path)
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "redis-server did not answer within {SERVICE_START_WITHIN:?}; log:\n{}",
                    read_log(&log_path)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        *self.child.lock().unwrap() = Some(child);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`: what `--bus` gets.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(Child::id)
    }

    /// Its directory (log, and Redis's working directory).
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.lock().unwrap().as_ref().map(|d| d.path().to_path_buf())
    }

    pub fn is_running(&self) -> bool {
        let mut child = self.child.lock().unwrap();
        child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGKILL: Redis is gone at once, with everything in it (no persistence).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port (stops it first if it still runs).
    pub fn restart(&self) {
        self.stop();
        self.launch();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real IRC server (Debian's `ngircd`) of the test's own, on a free loopback port, with
/// its configuration in a temporary directory; killed when dropped.
pub struct IrcdServer {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl IrcdServer {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> IrcdServer {
        let dir = tempfile::Builder::new()
            .prefix("chatpulse-test-ircd-")
            .tempdir()
            .expect("create a temp dir for ngircd");
        let port = free_port();
        let conf = dir.path().join("ngircd.conf");
        std::fs::write(
            &conf,
            format!(
                "[Global]\nName = irc.chatpulse.test\nInfo = chatpulse test server\nListen = 127.0.0.1\n\
                 Ports = {port}\nMotdPhrase = \"test\"\nAdminInfo1 = test\nAdminEMail = test@localhost\n\
                 [Limits]\nMaxNickLength = 30\n[Options]\nDNS = no\nIdent = no\nPAM = no\n"
            ),
        )
        .expect("write ngircd.conf");
        let (log, log_path) = log_file(dir.path(), "ngircd.log");
        let mut cmd = Command::new("ngircd");
        cmd.arg("--nodaemon")
            .arg("--config")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = spawn_tied_to_process(cmd)
            .unwrap_or_else(|e| panic!("cannot start ngircd (install the `ngircd` package): {e}"));
        let deadline = Instant::now() + SERVICE_START_WITHIN;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("ngircd exited with {status} at start; log:\n{}", read_log(&log_path));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "ngircd did not listen within {SERVICE_START_WITHIN:?}; log:\n{}",
                    read_log(&log_path)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        IrcdServer { port, child, _dir: dir }
    }

    /// `irc://127.0.0.1:<port>`: what `--irc-server` gets.
    pub fn url(&self) -> String {
        format!("irc://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for IrcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Redis the tests of this binary share: the machine's own on 127.0.0.1:6379 when it
/// answers (and [`OWN_SERVICES_ENV`] is not set), else a [`RedisServer`] this binary
/// starts once and stops at exit. Tests sharing it keep apart by epoch (keys
/// `chatpulse:<epoch>:*`).
pub fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if !own_services_forced() && answers("127.0.0.1:6379") {
            return DEFAULT_REDIS_URL.to_string();
        }
        let redis = OWN_REDIS.get_or_init(|| {
            stop_own_services_at_exit();
            let r = RedisServer::start();
            eprintln!(
                "testkit: nothing answered on 127.0.0.1:6379 (or {OWN_SERVICES_ENV}=1): started redis-server \
                 for this test binary on port {}",
                r.port()
            );
            r
        });
        redis.url()
    })
    .clone()
}

/// The Redis this binary started itself for [`redis_url`], if it did.
pub fn own_redis_if_started() -> Option<&'static RedisServer> {
    OWN_REDIS.get()
}

/// The bus stream of the database with `epoch` (PROTOCOL.md section 7).
pub fn bus_stream_key(epoch: &str) -> String {
    format!("chatpulse:{epoch}:events")
}

/// A small synchronous Redis client for tests: read the bus, delete an entry to make a
/// gap, clean up. `redis.cmd::<i64>(&["XLEN", &key])` runs any command.
pub struct Redis {
    conn: Mutex<redis::Connection>,
    url: String,
}

impl Redis {
    pub fn try_connect(url: &str) -> redis::RedisResult<Redis> {
        let client = redis::Client::open(url)?;
        let conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        conn.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(Redis {
            conn: Mutex::new(conn),
            url: url.to_string(),
        })
    }

    /// Connects, or panics saying to what.
    pub fn connect(url: &str) -> Redis {
        Redis::try_connect(url).unwrap_or_else(|e| panic!("cannot connect to Redis at {url}: {e}"))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one command, e.g. `cmd::<Vec<String>>(&["KEYS", "chatpulse:*"])`.
    pub fn try_cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let (name, rest) = args.split_first().expect("a Redis command");
        let mut cmd = redis::cmd(name);
        for a in rest {
            cmd.arg(*a);
        }
        cmd.query(&mut *self.conn.lock().unwrap())
    }

    /// Runs one command, panicking with the command and the error if it fails.
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("Redis {args:?} on {}: {e}", self.url))
    }

    pub fn ping(&self) -> bool {
        self.try_cmd::<String>(&["PING"]).is_ok_and(|p| p == "PONG")
    }

    /// Entries in the stream `key` (0 when it does not exist).
    pub fn xlen(&self, key: &str) -> u64 {
        self.cmd(&["XLEN", key])
    }

    /// The entries of stream `key`, oldest first: `(id, [(field, value)...])`.
    pub fn xrange(&self, key: &str) -> Vec<(String, Vec<(String, String)>)> {
        let reply: redis::streams::StreamRangeReply = self.cmd(&["XRANGE", key, "-", "+"]);
        reply
            .ids
            .into_iter()
            .map(|e| {
                let mut fields: Vec<(String, String)> = e
                    .map
                    .iter()
                    .map(|(k, v)| (k.clone(), redis::from_redis_value_ref::<String>(v).unwrap_or_default()))
                    .collect();
                fields.sort();
                (e.id, fields)
            })
            .collect()
    }

    /// The ids of the entries of stream `key`, oldest first.
    pub fn xrange_ids(&self, key: &str) -> Vec<String> {
        self.xrange(key).into_iter().map(|(id, _)| id).collect()
    }

    /// Deletes entries of stream `key` by id; returns how many were deleted.
    pub fn xdel(&self, key: &str, ids: &[&str]) -> u64 {
        let mut args = vec!["XDEL", key];
        args.extend_from_slice(ids);
        self.cmd(&args)
    }

    /// Keys matching `pattern` (KEYS: fine for a test's small Redis).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = self.cmd(&["KEYS", pattern]);
        keys.sort();
        keys
    }

    /// Deletes every key matching `pattern`; returns how many.
    pub fn del_matching(&self, pattern: &str) -> u64 {
        let keys = self.keys(pattern);
        if keys.is_empty() {
            return 0;
        }
        let mut args = vec!["DEL"];
        args.extend(keys.iter().map(String::as_str));
        self.cmd(&args)
    }
}

/// Deletes the keys of the database with `epoch` (`chatpulse:<epoch>:*`) from the Redis at
/// `url`, quietly: at the end of a test that Redis may be gone on purpose.
pub(crate) fn delete_bus_keys(url: &str, epoch: &str) {
    // An error connecting: killed by the test, or gone with its RedisServer; nothing to clean.
    if let Ok(r) = Redis::try_connect(url) {
        let pattern = format!("chatpulse:{epoch}:*");
        if let Err(e) = r
            .try_cmd::<Vec<String>>(&["KEYS", &pattern])
            .and_then(|keys| keys.iter().try_for_each(|k| r.try_cmd::<()>(&["DEL", k])))
        {
            eprintln!("testkit: could not delete {pattern} from {url}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names() {
        assert_eq!(Backend::parse(""), Some(Backend::Sqlite));
        assert_eq!(Backend::parse("sqlite"), Some(Backend::Sqlite));
        assert_eq!(Backend::parse("postgres"), Some(Backend::Postgres));
        assert_eq!(Backend::parse("pg"), None);
        assert_eq!(Backend::parse("mysql"), None);
    }

    #[test]
    fn database_url_keeps_the_server_and_names_the_database() {
        let db = PgDatabase {
            name: "chatpulse_t_ab".into(),
            admin_url: "postgres://postgres@127.0.0.1:5999/postgres".into(),
        };
        assert_eq!(db.url(), "postgres://postgres@127.0.0.1:5999/chatpulse_t_ab");
        // Not a real database: keep Drop from trying to drop it.
        std::mem::forget(db);
        assert_eq!(bus_stream_key("e1"), "chatpulse:e1:events");
    }
}
