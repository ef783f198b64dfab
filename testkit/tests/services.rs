//! The harness's PostgreSQL and Redis: databases created and dropped, a test's own Redis
//! stopped and restarted, and the services a test binary starts itself where the machine
//! has none (forced here with CHATPULSE_TEST_OWN_SERVICES=1), stopped when it exits or dies.
//! These need `postgresql` (initdb, postgres) and `redis-server` installed, as .ci/run does.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chatpulse_testkit::services::{answers, own_postgres_if_started, own_redis_if_started, pg_database_exists};
use chatpulse_testkit::{
    bus_stream_key, postgres_admin_url, redis_url, PgDatabase, PostgresServer, Redis, RedisServer,
};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// Marks the child run of `child_with_own_services`.
const CHILD_ENV: &str = "CHATPULSE_TESTKIT_CHILD";

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Gone, or a zombie nobody has reaped yet.
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn exercise_database(admin_url: &str) {
    let db = PgDatabase::create_on(admin_url);
    let name = db.name().to_string();
    assert!(name.starts_with("chatpulse_t_"), "{name}");
    assert!(pg_database_exists(admin_url, &name), "{name} was not created");
    let mut conn = PgConnection::establish(&db.url()).expect("connect to the new database");
    conn.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1);")
        .expect("use the new database");
    // A connection still open (a server killed mid-query leaves some): WITH (FORCE) drops anyway.
    drop(db);
    assert!(
        !pg_database_exists(admin_url, &name),
        "{name} is still there after Drop"
    );
    drop(conn);
}

#[test]
fn a_database_is_created_fresh_and_gone_after_drop() {
    exercise_database(&postgres_admin_url());
    let a = PgDatabase::create();
    let b = PgDatabase::create();
    assert_ne!(a.name(), b.name());
    assert!(a.url().ends_with(&format!("/{}", a.name())), "{}", a.url());
}

#[test]
fn a_tests_own_redis_stops_and_restarts_on_its_port() {
    let server = RedisServer::start();
    let url = server.url();
    assert_eq!(url, format!("redis://127.0.0.1:{}", server.port()));
    let redis = Redis::connect(&url);
    let key = bus_stream_key("epochtest");
    let first: String = redis.cmd(&["XADD", &key, "*", "cursor", "1"]);
    let second: String = redis.cmd(&["XADD", &key, "*", "cursor", "2"]);
    redis.cmd::<()>(&["SET", "chatpulse:epochtest:other", "x"]);
    redis.cmd::<()>(&["SET", "chatpulse:another:events", "x"]);
    assert_eq!(redis.xlen(&key), 2);
    assert_eq!(redis.xrange_ids(&key), vec![first.clone(), second.clone()]);
    assert_eq!(redis.xrange(&key)[1].1, vec![("cursor".to_string(), "2".to_string())]);
    assert_eq!(redis.xdel(&key, &[&first]), 1, "delete a bus entry to make a gap");
    assert_eq!(redis.xrange_ids(&key), vec![second]);
    assert_eq!(
        redis.keys("chatpulse:epochtest:*"),
        vec!["chatpulse:epochtest:events", "chatpulse:epochtest:other"]
    );
    assert_eq!(redis.del_matching("chatpulse:epochtest:*"), 2);
    assert_eq!(redis.keys("chatpulse:*"), vec!["chatpulse:another:events"]);

    let pid = server.pid().expect("running");
    server.stop();
    assert!(!server.is_running());
    assert!(process_gone(pid), "redis-server {pid} still runs after stop()");
    assert!(Redis::try_connect(&url).is_err(), "Redis still answers after stop()");
    assert!(redis.try_cmd::<String>(&["PING"]).is_err());

    server.restart();
    assert!(server.is_running());
    assert_eq!(server.url(), url, "restart() keeps the port");
    let redis = Redis::connect(&url);
    assert!(redis.ping());
    assert!(
        redis.keys("*").is_empty(),
        "a restarted Redis starts empty (no persistence)"
    );

    let pid = server.pid().unwrap();
    drop(server);
    assert!(process_gone(pid), "redis-server {pid} still runs after Drop");
}

#[test]
fn an_own_postgres_serves_databases_and_is_gone_after_stop() {
    let pg = PostgresServer::start();
    assert_ne!(pg.port(), 5432);
    exercise_database(&pg.admin_url());
    let pid = pg.pid().unwrap();
    let dir = pg.dir().unwrap();
    let port = pg.port();
    drop(pg);
    assert!(process_gone(pid), "postgres {pid} still runs after Drop");
    assert!(!answers(&format!("127.0.0.1:{port}")), "port {port} still answers");
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

/// Run only as the child of the two tests below (it is `#[ignore]`d otherwise): starts
/// the shared services with CHATPULSE_TEST_OWN_SERVICES=1, prints where they are, and then
/// returns (a normal exit) or, asked to, waits to be killed.
#[test]
#[ignore = "the child process of own_services_stop_when_*"]
fn child_with_own_services() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let admin = postgres_admin_url();
    let redis = redis_url();
    let pg = own_postgres_if_started().expect("CHATPULSE_TEST_OWN_SERVICES=1 starts PostgreSQL");
    let rs = own_redis_if_started().expect("CHATPULSE_TEST_OWN_SERVICES=1 starts Redis");
    assert_eq!(admin, pg.admin_url());
    assert_eq!(redis, rs.url());
    assert_ne!(pg.port(), 5432);
    assert_ne!(rs.port(), 6379);
    exercise_database(&admin);
    assert!(Redis::connect(&redis).ping());
    // Called again: the same services, not new ones.
    assert_eq!(postgres_admin_url(), admin);
    assert_eq!(redis_url(), redis);
    println!(
        "OWN-SERVICES pg_pid={} pg_port={} pg_dir={} redis_pid={} redis_port={} redis_dir={}",
        pg.pid().unwrap(),
        pg.port(),
        pg.dir().unwrap().display(),
        rs.pid().unwrap(),
        rs.port(),
        rs.dir().unwrap().display()
    );
    if mode == "hang" {
        std::thread::sleep(Duration::from_secs(120));
    }
}

struct ChildServices {
    pg_pid: u32,
    pg_port: u16,
    pg_dir: String,
    redis_pid: u32,
    redis_port: u16,
    redis_dir: String,
}

/// Runs `child_with_own_services` in a new process of this test binary; `hang`: SIGKILL it
/// once it has printed where its services are, else let it exit on its own.
fn run_child(hang: bool) -> ChildServices {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_with_own_services",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, if hang { "hang" } else { "exit" })
        .env("CHATPULSE_TEST_OWN_SERVICES", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run this test binary again");
    let mut found = None;
    let mut all = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        all.push_str(&line);
        all.push('\n');
        // libtest prints `test NAME ... ` before the test's own output, on the same line.
        if let Some((_, rest)) = line.split_once("OWN-SERVICES ") {
            let field = |k: &str| {
                rest.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .unwrap_or_else(|| panic!("no {k} in {line}"))
                    .to_string()
            };
            found = Some(ChildServices {
                pg_pid: field("pg_pid").parse().unwrap(),
                pg_port: field("pg_port").parse().unwrap(),
                pg_dir: field("pg_dir"),
                redis_pid: field("redis_pid").parse().unwrap(),
                redis_port: field("redis_port").parse().unwrap(),
                redis_dir: field("redis_dir"),
            });
            if hang {
                assert!(!process_gone(found.as_ref().unwrap().pg_pid));
                child.kill().unwrap();
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    if !hang {
        assert!(status.success(), "the child failed ({status}):\n{all}");
    }
    found.unwrap_or_else(|| panic!("the child printed no OWN-SERVICES line ({status}):\n{all}"))
}

fn assert_services_gone(s: &ChildServices, within: Duration) {
    wait_until("the test binary's PostgreSQL exits with it", within, || {
        process_gone(s.pg_pid)
    });
    wait_until("the test binary's redis-server exits with it", within, || {
        process_gone(s.redis_pid)
    });
    wait_until("nothing answers on the services' ports", within, || {
        !answers(&format!("127.0.0.1:{}", s.pg_port)) && !answers(&format!("127.0.0.1:{}", s.redis_port))
    });
}

#[test]
fn own_services_stop_when_the_test_binary_exits() {
    let s = run_child(false);
    // The atexit hook stops them before the process is gone: no waiting needed, but allow
    // the kernel a moment to reap.
    assert_services_gone(&s, Duration::from_secs(5));
    assert!(!Path::new(&s.pg_dir).exists(), "{} was not removed at exit", s.pg_dir);
    assert!(
        !Path::new(&s.redis_dir).exists(),
        "{} was not removed at exit",
        s.redis_dir
    );
}

#[test]
fn own_services_die_with_a_killed_test_binary() {
    // SIGKILL runs no exit hook: the parent-death signal is what stops them (their
    // temporary directory stays behind).
    let s = run_child(true);
    assert_services_gone(&s, Duration::from_secs(15));
    let _ = std::fs::remove_dir_all(&s.pg_dir);
    let _ = std::fs::remove_dir_all(&s.redis_dir);
}
