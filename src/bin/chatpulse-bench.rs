//! `chatpulse-bench`: the load generator of BENCHMARKS.md.
//!
//! It drives a chatpulse server over its public protocol only (HTTP, WebSocket, SSE:
//! PROTOCOL.md), on loopback only, for a bounded time, and prints a table (or `--json`).
//! By default every run spawns the server binary itself on a fresh temporary database,
//! so it can read the server's CPU time and resident memory from `/proc/<pid>`.
//! The one exception to "protocol only" is the raw baseline of `ingest-batch`, which
//! writes the same rows straight through `chatpulse::store` on a fresh database.
//!
//! ```text
//! chatpulse-bench [--runs 3] [--json] <scenario> [options]
//! scenarios: ingest-batch, ingest-single, fanout, slow-consumers, reconnect-storm, connections
//! ```
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use awc::ws;
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(
    name = "chatpulse-bench",
    about = "Load generator for chatpulse (loopback only, bounded duration)"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Server binary to spawn on a fresh temporary database for every run
    /// (default: `chatpulse` next to this binary).
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
    /// Extra flag for the spawned server, repeatable: `--server-arg=--queue-bytes=65536`.
    #[arg(long = "server-arg", global = true, allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Use an already running server instead of spawning one (must be http://127.0.0.x).
    #[arg(long, global = true)]
    url: Option<String>,
    /// Pid of the server given by `--url`, for CPU and memory from /proc.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Repeat the scenario this many times (fresh server each) and report medians.
    #[arg(long, global = true, default_value_t = 1)]
    runs: usize,
    /// Print one JSON object instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Threads that run the live clients (each its own event loop).
    #[arg(long, global = true, default_value_t = 1)]
    client_threads: usize,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Transport {
    Ws,
    Sse,
}

#[derive(Subcommand, Debug, Clone)]
enum Scenario {
    /// W writers posting batches of B messages; plus the raw store baseline.
    IngestBatch {
        #[arg(long, default_value_t = 4)]
        writers: usize,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Seconds of load.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Skip the raw baseline through the store module.
        #[arg(long)]
        no_raw: bool,
        /// Experiment: SQL run on the raw baseline's connection before it writes
        /// (e.g. "PRAGMA temp_store = MEMORY"), to try a store change without a rebuild.
        #[arg(long)]
        raw_pragma: Option<String>,
    },
    /// C concurrent writers posting one message per request.
    IngestSingle {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// S subscribers on a view, R msg/s ingested at a steady rate.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 500)]
        rate: u64,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
        #[arg(long, default_value = "messages")]
        view: String,
        /// Pad every message text to at least this many bytes.
        #[arg(long, default_value_t = 0)]
        text_bytes: usize,
    },
    /// X clients that stop reading among S healthy ones.
    SlowConsumers {
        #[arg(long, default_value_t = 500)]
        healthy: usize,
        #[arg(long, default_value_t = 100)]
        stalled: usize,
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// Seconds of each phase (without, then with the stalled clients).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
        #[arg(long, default_value_t = 0)]
        text_bytes: usize,
    },
    /// K clients M messages behind resume at once with their `after_id`.
    ReconnectStorm {
        #[arg(long, default_value_t = 2000)]
        clients: usize,
        #[arg(long, default_value_t = 1000)]
        behind: usize,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
        /// Distinct 127.0.0.x source addresses.
        #[arg(long, default_value_t = 4)]
        source_addrs: u8,
    },
    /// K idle live connections: server memory per connection and connect time.
    Connections {
        #[arg(long, default_value_t = 10000)]
        count: usize,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
        #[arg(long, default_value_t = 8)]
        source_addrs: u8,
        /// Connection attempts in flight at once.
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
        /// Seconds to hold the connections open after the last one connected.
        #[arg(long, default_value_t = 2.0)]
        hold: f64,
    },
}

impl Scenario {
    fn name(&self) -> String {
        match self {
            Scenario::IngestBatch { .. } => "ingest-batch".into(),
            Scenario::IngestSingle { .. } => "ingest-single".into(),
            Scenario::Fanout { transport, .. } => format!("fanout ({})", tname(*transport)),
            Scenario::SlowConsumers { transport, .. } => format!("slow-consumers ({})", tname(*transport)),
            Scenario::ReconnectStorm { transport, .. } => format!("reconnect-storm ({})", tname(*transport)),
            Scenario::Connections { transport, .. } => format!("connections ({})", tname(*transport)),
        }
    }
}

fn tname(t: Transport) -> &'static str {
    match t {
        Transport::Ws => "ws",
        Transport::Sse => "sse",
    }
}

// ---------------------------------------------------------------------------
// Figures and the report
// ---------------------------------------------------------------------------

/// How several runs' values of one figure combine.
#[derive(Clone, Copy, PartialEq)]
enum Agg {
    Median,
    /// Integrity counters: the worst run counts.
    Max,
}

#[derive(Clone)]
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    agg: Agg,
}

#[derive(Default)]
struct Run {
    figures: Vec<Figure>,
}

impl Run {
    fn add(&mut self, name: &str, value: f64, unit: &'static str) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit,
            agg: Agg::Median,
        });
    }
    /// A counter that must be zero.
    fn zero(&mut self, name: &str, value: f64) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit: "",
            agg: Agg::Max,
        });
    }
}

/// Median of the runs that produced the figure (NaN: not measured in that run).
fn median(v: Vec<f64>) -> f64 {
    let mut v: Vec<f64> = v.into_iter().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt_value(v: f64, unit: &str) -> String {
    if v.is_nan() {
        return "n/a".into();
    }
    let num = if v.abs() >= 1000.0 || v.fract() == 0.0 {
        let s = format!("{:.0}", v);
        // thousands separators
        let (sign, digits) = s.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("", &s));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if v.abs() >= 10.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.3}", v)
    };
    if unit.is_empty() {
        num
    } else {
        format!("{num} {unit}")
    }
}

// ---------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------

struct Server {
    child: Option<Child>,
    base: String,
    pid: Option<u32>,
    dir: Option<PathBuf>,
    log: Arc<Mutex<Vec<String>>>,
}

fn unique_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("chatpulse-bench-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

impl Server {
    fn start(common: &Common, extra: &[String]) -> Server {
        if let Some(url) = &common.url {
            let url = url.trim_end_matches('/').to_string();
            let host = url.trim_start_matches("http://");
            assert!(
                host.starts_with("127.") || host.starts_with("localhost"),
                "--url must be a loopback address (127.0.0.x): {url}"
            );
            return Server {
                child: None,
                base: url,
                pid: common.server_pid,
                dir: None,
                log: Default::default(),
            };
        }
        let bin = common.server_bin.clone().unwrap_or_else(|| {
            let me = std::env::current_exe().expect("current exe");
            me.with_file_name("chatpulse")
        });
        let dir = unique_dir("server");
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--database")
            .arg(dir.join("bench.db"))
            .args(extra)
            .args(&common.server_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start server {}: {e}", bin.display()));
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<Vec<String>>> = Default::default();
        let (tx, rx) = mpsc::channel();
        let keep = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on http://") {
                    let addr: String = line[at + 20..].chars().take_while(|c| !c.is_whitespace()).collect();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                let mut l = keep.lock().unwrap();
                if l.len() > 200 {
                    l.remove(0);
                }
                l.push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not log `listening on` within 30 s:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let pid = child.id();
        Server {
            child: Some(child),
            base: format!("http://{addr}"),
            pid: Some(pid),
            dir: Some(dir),
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn cpu_secs(&self) -> Option<f64> {
        self.pid.and_then(proc_cpu_secs)
    }

    fn rss_bytes(&self) -> Option<f64> {
        self.pid.and_then(proc_rss_bytes)
    }

    fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("server log tail:\n{}", self.log.lock().unwrap().join("\n"));
        }
        self.stop_inner();
    }
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds.
fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clk_tck())
}

fn proc_rss_bytes(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

const WORDS: &[&str] = &[
    "hello", "world", "stream", "pog", "gg", "nice", "play", "lol", "clip", "raid", "emote", "chat", "wave", "hype",
    "boss", "speedrun", "patch", "build", "meta", "queue", "lag", "ping", "cheers", "follow",
];

fn debug(what: &str) {
    if std::env::var_os("BENCH_DEBUG").is_some() {
        eprintln!("[bench] {what}");
    }
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// Channel, user and text of the `seq`th synthetic message. With `stamp`, the text
/// starts with `bench t=<µs since the epoch>` for the ingest-to-receive latency.
fn message_parts(seq: u64, stamp: Option<i64>, text_bytes: usize) -> (String, String, String) {
    let channel = format!("ch{}", seq % 16);
    let user = format!("u{}", seq % 500);
    let mut text = match stamp {
        Some(t) => format!("bench t={t} s={seq}"),
        None => format!("bench s={seq}"),
    };
    let mut i = seq as usize;
    for _ in 0..6 {
        text.push(' ');
        text.push_str(WORDS[i % WORDS.len()]);
        i = i / 3 + 7;
    }
    while text.len() < text_bytes {
        text.push_str(" pad");
    }
    (channel, user, text)
}

fn message_json(seq: u64, stamp: Option<i64>, text_bytes: usize) -> String {
    let (c, u, t) = message_parts(seq, stamp, text_bytes);
    format!(r#"{{"channel":"{c}","user":"{u}","text":"{t}"}}"#)
}

fn batch_body(seq0: u64, n: usize, stamp: Option<i64>, text_bytes: usize) -> Bytes {
    let mut s = String::with_capacity(n * 80);
    s.push('[');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&message_json(seq0 + i as u64, stamp, text_bytes));
    }
    s.push(']');
    Bytes::from(s)
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

fn http_client(limit: usize, timeout: Option<Duration>, local: Option<IpAddr>) -> awc::Client {
    let mut c = awc::Connector::new()
        .limit(limit)
        .conn_keep_alive(Duration::from_secs(2));
    if let Some(ip) = local {
        c = c.local_address(ip);
    }
    let b = awc::Client::builder().connector(c);
    match timeout {
        Some(t) => b.timeout(t).finish(),
        None => b.disable_timeout().finish(),
    }
}

async fn post(client: &awc::Client, url: &str, body: Bytes) -> Result<(u16, Value), String> {
    let mut res = client
        .post(url)
        .insert_header(("content-type", "application/json"))
        .send_body(body)
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body = res.body().limit(64 << 20).await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

async fn get_text(client: &awc::Client, url: &str) -> Result<String, String> {
    let mut res = client.get(url).send().await.map_err(|e| e.to_string())?;
    let body = res.body().limit(64 << 20).await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

async fn api_metrics(client: &awc::Client, server: &Server) -> Value {
    let t = get_text(client, &server.url("/api/metrics"))
        .await
        .expect("GET /api/metrics");
    serde_json::from_str(&t).expect("/api/metrics is JSON")
}

/// Sum of the Prometheus samples of `name` whose labels contain `label`.
async fn prom_sum(client: &awc::Client, server: &Server, name: &str, label: &str) -> f64 {
    let Ok(text) = get_text(client, &server.url("/metrics")).await else {
        return f64::NAN;
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Live connections the server closed because their client fell behind: a full queue
/// (`overflow`) or a socket that accepted nothing for `--write-timeout-ms` (`timeout`).
async fn cut_off_total(client: &awc::Client, server: &Server) -> f64 {
    let closed = "chatpulse_live_connections_closed_total";
    prom_sum(client, server, closed, "reason=\"overflow\"").await
        + prom_sum(client, server, closed, "reason=\"timeout\"").await
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

// ---------------------------------------------------------------------------
// Ingest scenarios
// ---------------------------------------------------------------------------

struct IngestResult {
    acked: u64,
    errors: u64,
    overloaded: u64,
    elapsed: f64,
    lat_ms: Vec<f64>,
}

/// `writers` tasks each post batches of `batch` back to back until `duration` is over.
async fn ingest_load(server: &Server, writers: usize, batch: usize, duration: f64) -> IngestResult {
    // A few distinct bodies, built before the clock starts.
    let bodies: Rc<Vec<Bytes>> = Rc::new(
        (0..8)
            .map(|k| {
                if batch == 1 {
                    Bytes::from(message_json(k as u64 * 7919, None, 0))
                } else {
                    batch_body(k as u64 * batch as u64, batch, None, 0)
                }
            })
            .collect(),
    );
    let client = http_client(writers + 8, Some(Duration::from_secs(60)), None);
    let url = server.url("/api/messages");
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(duration);
    let result = Rc::new(RefCell::new(IngestResult {
        acked: 0,
        errors: 0,
        overloaded: 0,
        elapsed: 0.0,
        lat_ms: Vec::new(),
    }));
    let last_done = Rc::new(RefCell::new(start));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (client, url, bodies, result, last_done) = (
            client.clone(),
            url.clone(),
            bodies.clone(),
            result.clone(),
            last_done.clone(),
        );
        tasks.push(actix_rt::spawn(async move {
            let mut k = w;
            while Instant::now() < deadline {
                let body = bodies[k % bodies.len()].clone();
                k += 1;
                let t0 = Instant::now();
                let r = post(&client, &url, body).await;
                let done = Instant::now();
                let overloaded = {
                    let mut res = result.borrow_mut();
                    match r {
                        Ok((201, v)) => {
                            res.acked += v["inserted"].as_u64().unwrap_or(0);
                            res.lat_ms.push((done - t0).as_secs_f64() * 1000.0);
                            *last_done.borrow_mut() = done;
                            false
                        }
                        Ok((503, _)) => {
                            res.overloaded += 1;
                            true
                        }
                        _ => {
                            res.errors += 1;
                            false
                        }
                    }
                };
                if overloaded {
                    actix_rt::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = (*last_done.borrow() - start).as_secs_f64();
    let mut r = Rc::try_unwrap(result).ok().unwrap().into_inner();
    r.elapsed = elapsed;
    r.lat_ms.sort_by(f64::total_cmp);
    r
}

/// The same rows written through `chatpulse::store` in one thread on a fresh database.
fn raw_baseline(rows: u64, batch: usize, pragma: Option<&str>) -> f64 {
    use chatpulse::store::{NewMessage, Store};
    use diesel::connection::SimpleConnection;
    let dir = unique_dir("raw");
    let db = dir.join("raw.db");
    // One connection: the one thread that writes, as the ingest actor does.
    let store = Store::open(db.to_str().unwrap(), 1).expect("open raw store");
    if let Some(sql) = pragma {
        store
            .conn()
            .expect("raw conn")
            .batch_execute(sql)
            .expect("--raw-pragma");
    }
    let batches: Vec<Vec<NewMessage>> = (0..8u64)
        .map(|k| {
            (0..batch as u64)
                .map(|i| {
                    let (channel, user, text) = message_parts(k * batch as u64 + i, None, 0);
                    NewMessage {
                        channel,
                        user,
                        text,
                        sent_at: now_us() / 1000,
                        tags: None,
                        display_name: None,
                        event_id: None,
                    }
                })
                .collect()
        })
        .collect();
    let n = (rows as usize).div_ceil(batch).max(1);
    let start = Instant::now();
    for k in 0..n {
        let (outcomes, _) = store
            .insert_batches(std::slice::from_ref(&batches[k % batches.len()]))
            .expect("raw insert");
        for o in outcomes {
            o.expect("raw request");
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
    (n * batch) as f64 / elapsed
}

async fn run_ingest(
    common: &Common,
    writers: usize,
    batch: usize,
    duration: f64,
    raw: bool,
    raw_pragma: Option<&str>,
) -> Run {
    let server = Server::start(common, &[]);
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let before = api_metrics(&probe, &server).await["total_messages"]
        .as_u64()
        .unwrap_or(0);
    let cpu0 = server.cpu_secs();
    let r = ingest_load(&server, writers, batch, duration).await;
    let cpu1 = server.cpu_secs();
    let after = api_metrics(&probe, &server).await["total_messages"]
        .as_u64()
        .unwrap_or(0);
    server.stop();
    let mut run = Run::default();
    let rate = r.acked as f64 / r.elapsed;
    run.add("stored msg/s", rate, "msg/s");
    run.add("requests", r.lat_ms.len() as f64, "");
    run.add("request p50", pct(&r.lat_ms, 50.0), "ms");
    run.add("request p99", pct(&r.lat_ms, 99.0), "ms");
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        run.add("server CPU per message", (b - a) / r.acked.max(1) as f64 * 1e6, "µs");
        run.add("server CPU use", (b - a) / r.elapsed * 100.0, "% of a core");
    }
    run.add("503 overloaded answers", r.overloaded as f64, "");
    run.zero("failed requests", r.errors as f64);
    run.zero(
        "acked but not stored",
        (r.acked as i64 - (after - before) as i64).unsigned_abs() as f64,
    );
    if raw {
        let raw_rate = raw_baseline(r.acked.max(batch as u64), batch, raw_pragma);
        run.add("raw store msg/s (1 thread)", raw_rate, "msg/s");
        run.add("overhead ratio (HTTP / raw)", rate / raw_rate, "");
    }
    run
}

// ---------------------------------------------------------------------------
// Live clients
// ---------------------------------------------------------------------------

trait WsIo:
    Stream<Item = Result<ws::Frame, awc::error::WsProtocolError>>
    + Sink<ws::Message, Error = awc::error::WsProtocolError>
    + Unpin
{
}
impl<T> WsIo for T where
    T: Stream<Item = Result<ws::Frame, awc::error::WsProtocolError>>
        + Sink<ws::Message, Error = awc::error::WsProtocolError>
        + Unpin
{
}

enum Conn {
    // The client is kept alive with its connection.
    #[allow(dead_code)]
    Ws(Box<dyn WsIo>, awc::Client),
    Sse {
        stream: Pin<Box<dyn Stream<Item = Result<Bytes, awc::error::PayloadError>>>>,
        buf: Vec<u8>,
        _client: awc::Client,
    },
}

enum Ev {
    Message { id: i64, t_us: Option<i64> },
    Status { state: String, reason: String },
    Other,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn int_at(b: &[u8]) -> Option<i64> {
    let end = b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len());
    std::str::from_utf8(&b[..end]).ok()?.parse().ok()
}

/// Reads one envelope cheaply: message events are scanned, not parsed.
fn scan(json: &[u8]) -> Ev {
    if json.starts_with(br#"{"type":"message""#) {
        let id = find(json, br#""message_id":"#).and_then(|i| int_at(&json[i + 13..]));
        let t = find(json, b"\"text\":\"bench t=").and_then(|i| int_at(&json[i + 16..]));
        match id {
            Some(id) => Ev::Message { id, t_us: t },
            None => Ev::Other,
        }
    } else if find(json, br#""type":"status""#).is_some() {
        let v: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
        Ev::Status {
            state: v["state"].as_str().unwrap_or("").into(),
            reason: v["reason"].as_str().unwrap_or("").into(),
        }
    } else {
        Ev::Other
    }
}

fn live_url(base: &str, transport: Transport, view: &str, after: Option<(i64, &str)>) -> String {
    let path = match transport {
        Transport::Ws => "/live/ws",
        Transport::Sse => "/live/sse",
    };
    let mut u = format!("{base}{path}?view={}", view.replace('/', "%2F"));
    if let Some((a, e)) = after {
        u.push_str(&format!("&after_id={a}&epoch={e}"));
    }
    u
}

fn source_ip(i: usize, addrs: u8) -> Option<IpAddr> {
    if addrs <= 1 {
        None
    } else {
        Some(IpAddr::from([127, 0, 0, 1 + (i % addrs as usize) as u8]))
    }
}

impl Conn {
    async fn open(url: &str, transport: Transport, local: Option<IpAddr>) -> Result<Conn, String> {
        match transport {
            Transport::Ws => {
                let client = http_client(1, Some(Duration::from_secs(30)), local);
                let (_res, framed) = client
                    .ws(url)
                    .max_frame_size(64 << 20)
                    .connect()
                    .await
                    .map_err(|e| format!("ws connect: {e}"))?;
                Ok(Conn::Ws(Box::new(framed), client))
            }
            Transport::Sse => {
                let client = http_client(1, None, local);
                let res = client
                    .get(url)
                    .insert_header(("Accept", "text/event-stream"))
                    .send()
                    .await
                    .map_err(|e| format!("sse connect: {e}"))?;
                if res.status().as_u16() != 200 {
                    return Err(format!("sse HTTP {}", res.status().as_u16()));
                }
                Ok(Conn::Sse {
                    stream: Box::pin(res),
                    buf: Vec::new(),
                    _client: client,
                })
            }
        }
    }

    /// Appends what arrives within `wait` to `out`; `Err` when the connection ended.
    async fn next(&mut self, wait: Duration, out: &mut Vec<Ev>) -> Result<(), String> {
        match self {
            Conn::Ws(io, _) => {
                let item = match actix_rt::time::timeout(wait, io.next()).await {
                    Err(_) => return Ok(()),
                    Ok(item) => item,
                };
                match item {
                    None => Err("eof".into()),
                    Some(Err(e)) => Err(format!("ws error: {e}")),
                    Some(Ok(ws::Frame::Text(b))) => {
                        out.push(scan(&b));
                        Ok(())
                    }
                    Some(Ok(ws::Frame::Ping(b))) => {
                        let _ = io.send(ws::Message::Pong(b)).await;
                        Ok(())
                    }
                    Some(Ok(ws::Frame::Close(reason))) => {
                        let _ = io.send(ws::Message::Close(None)).await;
                        Err(format!("closed {:?}", reason.map(|r| u16::from(r.code))))
                    }
                    Some(Ok(_)) => Ok(()),
                }
            }
            Conn::Sse { stream, buf, .. } => {
                let item = match actix_rt::time::timeout(wait, stream.next()).await {
                    Err(_) => return Ok(()),
                    Ok(item) => item,
                };
                match item {
                    None => Err("eof".into()),
                    Some(Err(e)) => Err(format!("sse error: {e}")),
                    Some(Ok(chunk)) => {
                        buf.extend_from_slice(&chunk);
                        let mut start = 0;
                        while let Some(nl) = buf[start..].iter().position(|c| *c == b'\n') {
                            let line = &buf[start..start + nl];
                            if let Some(data) = line.strip_prefix(b"data: ") {
                                out.push(scan(data));
                            }
                            start += nl + 1;
                        }
                        buf.drain(..start);
                        Ok(())
                    }
                }
            }
        }
    }

    async fn close(&mut self) {
        if let Conn::Ws(io, _) = self {
            let _ = io.send(ws::Message::Close(Some(ws::CloseCode::Normal.into()))).await;
        }
    }
}

/// What the main thread and the client threads share.
struct Shared {
    base: String,
    /// Ids above this are the benchmark's messages.
    id_base: i64,
    connected: AtomicUsize,
    failed: AtomicUsize,
    /// Set once sending is over and `last_id` is known.
    stop: AtomicBool,
    last_id: AtomicI64,
    /// Subscribers give up waiting for `last_id` at this time (µs since the epoch).
    drain_deadline_us: AtomicI64,
    /// Latencies of ids at or below this go to phase A, above it to phase B.
    phase_split: AtomicI64,
    /// When the scenario started (time to live is measured from here).
    start: Instant,
}

#[derive(Default)]
struct SubStats {
    received: u64,
    dups: u64,
    out_of_order: u64,
    overflowed: bool,
    fallback: bool,
    connect_err: Option<String>,
    /// Time from the start of the scenario to the `connected` status.
    live_after: Option<Duration>,
    /// Time from this client's own connect call to `connected`.
    connect_time: Option<Duration>,
    lat_a: Vec<u32>,
    lat_b: Vec<u32>,
    seen: Vec<u8>,
    max_id: i64,
    last_rx: Option<Instant>,
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Reads until it has `last_id` (or the drain deadline).
    Reader,
    /// Reads until `connected` and past `last_id` (set before start), then leaves.
    UntilLive,
    /// Stops reading after `connected`; holds the socket until stop.
    Stalled,
    /// Reads (answers pings) until stop.
    Idle,
}

#[derive(Clone)]
struct ClientSpec {
    transport: Transport,
    view: String,
    after: Option<(i64, String)>,
    role: Role,
    source_addrs: u8,
}

async fn live_client(i: usize, spec: ClientSpec, shared: Arc<Shared>, sem: Rc<tokio::sync::Semaphore>) -> SubStats {
    let mut st = SubStats::default();
    // Bounds the handshakes in flight; released once this client is live (or failed).
    let mut permit = sem.acquire().await.ok();
    let url = live_url(
        &shared.base,
        spec.transport,
        &spec.view,
        spec.after.as_ref().map(|(a, e)| (*a, e.as_str())),
    );
    let t0 = Instant::now();
    debug(&format!("client {i} connecting {url}"));
    let mut conn = match Conn::open(&url, spec.transport, source_ip(i, spec.source_addrs)).await {
        Ok(c) => c,
        Err(e) => {
            shared.failed.fetch_add(1, Ordering::SeqCst);
            st.connect_err = Some(e);
            return st;
        }
    };
    let mut evs = Vec::new();
    let mut connected = false;
    loop {
        evs.clear();
        let r = conn.next(Duration::from_millis(100), &mut evs).await;
        let now = now_us();
        let rx = Instant::now();
        let split = shared.phase_split.load(Ordering::Relaxed);
        for ev in evs.drain(..) {
            match ev {
                Ev::Message { id, t_us } => {
                    st.received += 1;
                    st.last_rx = Some(rx);
                    let idx = id - shared.id_base - 1;
                    if idx >= 0 {
                        let idx = idx as usize;
                        if st.seen.len() <= idx {
                            st.seen.resize(idx + 1024, 0);
                        }
                        if st.seen[idx] != 0 {
                            st.dups += 1;
                        } else if id < st.max_id {
                            st.out_of_order += 1;
                        }
                        st.seen[idx] = 1;
                    }
                    st.max_id = st.max_id.max(id);
                    if let Some(t) = t_us {
                        let lat = (now - t).clamp(0, u32::MAX as i64) as u32;
                        if id <= split {
                            st.lat_a.push(lat);
                        } else {
                            st.lat_b.push(lat);
                        }
                    }
                }
                Ev::Status { state, reason } => {
                    debug(&format!("client {i} status {state} {reason}"));
                    if state == "connected" && !connected {
                        connected = true;
                        permit.take();
                        st.live_after = Some(shared.start.elapsed());
                        st.connect_time = Some(t0.elapsed());
                        shared.connected.fetch_add(1, Ordering::SeqCst);
                    }
                    if reason == "overflow" {
                        st.overflowed = true;
                    }
                    if state == "fallback" {
                        st.fallback = true;
                    }
                }
                Ev::Other => {}
            }
        }
        if let Err(e) = r {
            if !connected {
                shared.failed.fetch_add(1, Ordering::SeqCst);
                st.connect_err = Some(e);
            }
            break;
        }
        if connected && spec.role == Role::Stalled {
            while !shared.stop.load(Ordering::SeqCst) {
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
            break;
        }
        let stop = shared.stop.load(Ordering::SeqCst);
        match spec.role {
            Role::Reader => {
                if stop
                    && (st.max_id >= shared.last_id.load(Ordering::SeqCst)
                        || now >= shared.drain_deadline_us.load(Ordering::SeqCst))
                {
                    break;
                }
            }
            Role::UntilLive => {
                if connected && st.max_id >= shared.last_id.load(Ordering::SeqCst) {
                    break;
                }
                if now >= shared.drain_deadline_us.load(Ordering::SeqCst) {
                    break;
                }
            }
            Role::Idle | Role::Stalled => {
                if stop {
                    break;
                }
            }
        }
    }
    conn.close().await;
    st
}

/// Runs `count` live clients spread over `threads` threads; returns the threads' handles.
fn spawn_clients(
    threads: usize,
    count: usize,
    first_index: usize,
    in_flight: usize,
    spec: ClientSpec,
    shared: Arc<Shared>,
) -> Vec<std::thread::JoinHandle<Vec<SubStats>>> {
    let threads = threads.max(1).min(count.max(1));
    (0..threads)
        .map(|t| {
            let (spec, shared) = (spec.clone(), shared.clone());
            let mine: Vec<usize> = (0..count)
                .filter(|i| i % threads == t)
                .map(|i| i + first_index)
                .collect();
            let permits = (in_flight / threads).max(1);
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let sem = Rc::new(tokio::sync::Semaphore::new(permits));
                    let handles: Vec<_> = mine
                        .into_iter()
                        .map(|i| {
                            let (spec, shared, sem) = (spec.clone(), shared.clone(), sem.clone());
                            actix_rt::spawn(live_client(i, spec, shared, sem))
                        })
                        .collect();
                    let mut out = Vec::with_capacity(handles.len());
                    for h in handles {
                        out.push(h.await.unwrap_or_default());
                    }
                    out
                })
            })
        })
        .collect()
}

fn join_clients(handles: Vec<std::thread::JoinHandle<Vec<SubStats>>>) -> Vec<SubStats> {
    handles
        .into_iter()
        .flat_map(|h| h.join().expect("client thread panicked"))
        .collect()
}

fn new_shared(base: &str, id_base: i64) -> Arc<Shared> {
    Arc::new(Shared {
        base: base.to_string(),
        id_base,
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        last_id: AtomicI64::new(i64::MAX),
        drain_deadline_us: AtomicI64::new(i64::MAX),
        phase_split: AtomicI64::new(i64::MAX),
        start: Instant::now(),
    })
}

async fn wait_connected(shared: &Shared, n: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let c = shared.connected.load(Ordering::SeqCst);
        let f = shared.failed.load(Ordering::SeqCst);
        if c + f >= n || Instant::now() > deadline {
            return c;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Sent {
    ids: Vec<i64>,
    errors: u64,
}

/// Posts `rate` msg/s for `duration`, `per_tick` messages per request, each stamped
/// with the time of sending. Returns the stored ids.
async fn send_steady(server: &Server, rate: u64, duration: f64, text_bytes: usize, seq0: u64) -> Sent {
    let per_tick = rate.div_ceil(100).max(1);
    let interval = Duration::from_secs_f64(per_tick as f64 / rate as f64);
    let ticks = ((duration * rate as f64) / per_tick as f64).round() as u64;
    let client = http_client(64, Some(Duration::from_secs(30)), None);
    let url = server.url("/api/messages");
    let out = Rc::new(RefCell::new(Sent {
        ids: Vec::new(),
        errors: 0,
    }));
    let start = actix_rt::time::Instant::now();
    let mut tasks = Vec::new();
    for k in 0..ticks {
        actix_rt::time::sleep_until(start + interval * k as u32).await;
        let body = batch_body(seq0 + k * per_tick, per_tick as usize, Some(now_us()), text_bytes);
        let (client, url, out) = (client.clone(), url.clone(), out.clone());
        tasks.push(actix_rt::spawn(async move {
            match post(&client, &url, body).await {
                Ok((201, v)) => {
                    let ids = v["ids"].as_array().cloned().unwrap_or_default();
                    out.borrow_mut().ids.extend(ids.iter().filter_map(|x| x.as_i64()));
                }
                _ => out.borrow_mut().errors += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut s = Rc::try_unwrap(out).ok().unwrap().into_inner();
    s.ids.sort_unstable();
    s
}

fn missing_of(st: &SubStats, expected: &[i64], id_base: i64) -> u64 {
    expected
        .iter()
        .filter(|id| {
            let idx = (**id - id_base - 1) as usize;
            st.seen.get(idx).copied().unwrap_or(0) == 0
        })
        .count() as u64
}

fn lat_figures(run: &mut Run, prefix: &str, lat_us: &mut [u32]) {
    lat_us.sort_unstable();
    let p = |q: f64| -> f64 {
        if lat_us.is_empty() {
            return f64::NAN;
        }
        let i = ((q / 100.0) * (lat_us.len() - 1) as f64).round() as usize;
        lat_us[i] as f64 / 1000.0
    };
    run.add(&format!("{prefix}latency p50"), p(50.0), "ms");
    run.add(&format!("{prefix}latency p95"), p(95.0), "ms");
    run.add(&format!("{prefix}latency p99"), p(99.0), "ms");
    run.add(&format!("{prefix}latency max"), p(100.0), "ms");
}

fn integrity(run: &mut Run, subs: &[SubStats], expected: &[i64], id_base: i64) {
    let missing: Vec<u64> = subs.iter().map(|s| missing_of(s, expected, id_base)).collect();
    run.zero("missing (all subscribers)", missing.iter().sum::<u64>() as f64);
    run.zero(
        "subscribers with missing",
        missing.iter().filter(|m| **m > 0).count() as f64,
    );
    run.zero("duplicated", subs.iter().map(|s| s.dups).sum::<u64>() as f64);
    run.zero("out of order", subs.iter().map(|s| s.out_of_order).sum::<u64>() as f64);
}

async fn run_fanout(
    common: &Common,
    subscribers: usize,
    rate: u64,
    duration: f64,
    transport: Transport,
    view: &str,
    text_bytes: usize,
) -> Run {
    let extra = vec!["--max-connections".to_string(), (subscribers + 64).to_string()];
    let server = Server::start(common, &extra);
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let id_base = api_metrics(&probe, &server).await["cursor"].as_i64().unwrap_or(0);
    let shared = new_shared(&server.base, id_base);
    let spec = ClientSpec {
        transport,
        view: view.to_string(),
        after: None,
        role: Role::Reader,
        source_addrs: 1,
    };
    let handles = spawn_clients(common.client_threads, subscribers, 0, 256, spec, shared.clone());
    let connected = wait_connected(&shared, subscribers, Duration::from_secs(120)).await;
    debug(&format!("{connected} subscribers live"));
    let overflow0 = prom_sum(
        &probe,
        &server,
        "chatpulse_live_connections_closed_total",
        "reason=\"overflow\"",
    )
    .await;
    let cpu0 = server.cpu_secs();
    let t0 = Instant::now();
    let sent = send_steady(&server, rate, duration, text_bytes, 0).await;
    debug(&format!("sent {} messages", sent.ids.len()));
    shared
        .last_id
        .store(sent.ids.last().copied().unwrap_or(id_base), Ordering::SeqCst);
    shared.drain_deadline_us.store(now_us() + 10_000_000, Ordering::SeqCst);
    shared.stop.store(true, Ordering::SeqCst);
    let subs = actix_rt::task::spawn_blocking(move || join_clients(handles))
        .await
        .unwrap();
    let last_rx = subs.iter().filter_map(|s| s.last_rx).max().unwrap_or_else(Instant::now);
    let cpu1 = server.cpu_secs();
    let overflow1 = prom_sum(
        &probe,
        &server,
        "chatpulse_live_connections_closed_total",
        "reason=\"overflow\"",
    )
    .await;
    server.stop();

    let window = (last_rx.max(t0) - t0).as_secs_f64().max(1e-3);
    let deliveries: u64 = subs.iter().map(|s| s.received).sum();
    let mut run = Run::default();
    run.add("subscribers live", connected as f64, "");
    run.add("messages sent", sent.ids.len() as f64, "");
    run.add("deliveries", deliveries as f64, "");
    run.add("deliveries/s", deliveries as f64 / window, "/s");
    let mut lat: Vec<u32> = subs
        .iter()
        .flat_map(|s| s.lat_a.iter().chain(&s.lat_b).copied())
        .collect();
    lat_figures(&mut run, "", &mut lat);
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        run.add(
            "server CPU per delivery",
            (b - a) / deliveries.max(1) as f64 * 1e6,
            "µs",
        );
        run.add("server CPU use", (b - a) / window * 100.0, "% of a core");
    }
    integrity(&mut run, &subs, &sent.ids, id_base);
    run.zero(
        "overflows",
        (overflow1 - overflow0).max(subs.iter().filter(|s| s.overflowed).count() as f64),
    );
    run.zero("failed connects", (subscribers - connected) as f64);
    run.zero("failed ingest requests", sent.errors as f64);
    run
}

async fn run_slow(
    common: &Common,
    healthy: usize,
    stalled: usize,
    rate: u64,
    duration: f64,
    transport: Transport,
    text_bytes: usize,
) -> Run {
    let extra = vec!["--max-connections".to_string(), (healthy + stalled + 64).to_string()];
    let server = Server::start(common, &extra);
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let id_base = api_metrics(&probe, &server).await["cursor"].as_i64().unwrap_or(0);
    let shared = new_shared(&server.base, id_base);
    let spec = ClientSpec {
        transport,
        view: "messages".into(),
        after: None,
        role: Role::Reader,
        source_addrs: 1,
    };
    let handles = spawn_clients(common.client_threads, healthy, 0, 256, spec.clone(), shared.clone());
    let live_healthy = wait_connected(&shared, healthy, Duration::from_secs(120)).await;
    // Phase A: healthy clients only.
    let a = send_steady(&server, rate, duration, text_bytes, 0).await;
    shared
        .phase_split
        .store(a.ids.last().copied().unwrap_or(id_base), Ordering::SeqCst);
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    // Phase B: the stalled ones join and stop reading.
    let overflow0 = cut_off_total(&probe, &server).await;
    let stall_spec = ClientSpec {
        role: Role::Stalled,
        ..spec
    };
    let stalled_handles = spawn_clients(1, stalled, healthy, 256, stall_spec, shared.clone());
    let live_all = wait_connected(&shared, healthy + stalled, Duration::from_secs(60)).await;
    let stall_start = Instant::now();
    let stop_polling = Rc::new(std::cell::Cell::new(false));
    let disconnected_after: Rc<RefCell<Option<Duration>>> = Default::default();
    let last_seen = Rc::new(std::cell::Cell::new(0.0f64));
    let poller = {
        let (probe, base, stop, out, seen) = (
            probe.clone(),
            server.base.clone(),
            stop_polling.clone(),
            disconnected_after.clone(),
            last_seen.clone(),
        );
        let want = (live_all - live_healthy) as f64;
        actix_rt::spawn(async move {
            let fake = Server {
                child: None,
                base,
                pid: None,
                dir: None,
                log: Default::default(),
            };
            while !stop.get() {
                let n = cut_off_total(&probe, &fake).await - overflow0;
                seen.set(n);
                if n >= want && out.borrow().is_none() {
                    *out.borrow_mut() = Some(stall_start.elapsed());
                    break;
                }
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let b = send_steady(&server, rate, duration, text_bytes, 1_000_000).await;
    // Give the stalled ones up to 10 s more to be cut off.
    let wait_until = Instant::now() + Duration::from_secs(10);
    while disconnected_after.borrow().is_none() && Instant::now() < wait_until {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    stop_polling.set(true);
    let _ = poller.await;
    let mut expected = a.ids.clone();
    expected.extend(&b.ids);
    expected.sort_unstable();
    shared
        .last_id
        .store(expected.last().copied().unwrap_or(id_base), Ordering::SeqCst);
    shared.drain_deadline_us.store(now_us() + 10_000_000, Ordering::SeqCst);
    shared.stop.store(true, Ordering::SeqCst);
    let subs = actix_rt::task::spawn_blocking(move || join_clients(handles))
        .await
        .unwrap();
    let _ = actix_rt::task::spawn_blocking(move || join_clients(stalled_handles)).await;
    server.stop();

    let mut run = Run::default();
    run.add("healthy live", live_healthy as f64, "");
    run.add("stalled live", (live_all - live_healthy) as f64, "");
    let mut la: Vec<u32> = subs.iter().flat_map(|s| s.lat_a.iter().copied()).collect();
    let mut lb: Vec<u32> = subs.iter().flat_map(|s| s.lat_b.iter().copied()).collect();
    lat_figures(&mut run, "healthy without stalled: ", &mut la);
    lat_figures(&mut run, "healthy with stalled: ", &mut lb);
    let p99 = |v: &[u32]| {
        v.get(((v.len().max(1) - 1) as f64 * 0.99).round() as usize)
            .copied()
            .unwrap_or(0) as f64
    };
    run.add("p99 ratio (with / without)", p99(&lb) / p99(&la).max(1.0), "");
    run.add("stalled cut off (overflow or write timeout)", last_seen.get(), "");
    run.add(
        "time until all stalled cut off",
        disconnected_after.borrow().map(|d| d.as_secs_f64()).unwrap_or(f64::NAN),
        "s",
    );
    integrity(&mut run, &subs, &expected, id_base);
    run.zero(
        "healthy overflowed",
        subs.iter().filter(|s| s.overflowed).count() as f64,
    );
    run.zero("failed ingest requests", (a.errors + b.errors) as f64);
    run
}

async fn run_storm(common: &Common, clients: usize, behind: usize, transport: Transport, source_addrs: u8) -> Run {
    let extra = vec!["--max-connections".to_string(), (clients + 64).to_string()];
    let server = Server::start(common, &extra);
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let m = api_metrics(&probe, &server).await;
    let id_base = m["cursor"].as_i64().unwrap_or(0);
    let epoch = m["epoch"].as_str().unwrap_or("").to_string();
    // The clients were live at `id_base`; `behind` messages arrive while they are away.
    let mut ids = Vec::new();
    let mut seq = 0u64;
    while ids.len() < behind {
        let n = (behind - ids.len()).min(1000);
        let (status, v) = post(
            &probe,
            &server.url("/api/messages"),
            batch_body(seq, n, Some(now_us()), 0),
        )
        .await
        .expect("ingest backlog");
        assert_eq!(status, 201, "ingest backlog: {v}");
        ids.extend(v["ids"].as_array().unwrap().iter().filter_map(|x| x.as_i64()));
        seq += n as u64;
    }
    let shared = new_shared(&server.base, id_base);
    shared.last_id.store(*ids.last().unwrap_or(&id_base), Ordering::SeqCst);
    shared.drain_deadline_us.store(now_us() + 60_000_000, Ordering::SeqCst);
    let cpu0 = server.cpu_secs();
    let spec = ClientSpec {
        transport,
        view: "messages".into(),
        after: Some((id_base, epoch)),
        role: Role::UntilLive,
        source_addrs,
    };
    let start = shared.start;
    let handles = spawn_clients(common.client_threads, clients, 0, clients, spec, shared.clone());
    let subs = actix_rt::task::spawn_blocking(move || join_clients(handles))
        .await
        .unwrap();
    let all = start.elapsed();
    let cpu1 = server.cpu_secs();
    let fallbacks = prom_sum(&probe, &server, "chatpulse_live_fallbacks_total", "").await;
    server.stop();

    let mut run = Run::default();
    let live: Vec<f64> = {
        let mut v: Vec<f64> = subs
            .iter()
            .filter(|s| s.max_id >= *ids.last().unwrap_or(&0))
            .filter_map(|s| s.live_after.map(|d| d.as_secs_f64()))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    run.add("clients caught up and live", live.len() as f64, "");
    run.add("time until all live", live.last().copied().unwrap_or(f64::NAN), "s");
    run.add("per-client time to live p50", pct(&live, 50.0), "s");
    run.add("per-client time to live p99", pct(&live, 99.0), "s");
    run.add("wall time of the storm", all.as_secs_f64(), "s");
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        run.add(
            "server CPU per caught-up message",
            (b - a) / (clients * behind).max(1) as f64 * 1e6,
            "µs",
        );
    }
    run.zero(
        "fallbacks",
        fallbacks.max(subs.iter().filter(|s| s.fallback).count() as f64),
    );
    run.zero(
        "failed connects",
        subs.iter().filter(|s| s.connect_err.is_some()).count() as f64,
    );
    run.zero("not live in time", (clients - live.len()) as f64);
    integrity(&mut run, &subs, &ids, id_base);
    run
}

async fn run_connections(
    common: &Common,
    count: usize,
    transport: Transport,
    source_addrs: u8,
    in_flight: usize,
    hold: f64,
) -> Run {
    let extra = vec!["--max-connections".to_string(), (count + 64).to_string()];
    let server = Server::start(common, &extra);
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let _ = api_metrics(&probe, &server).await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let rss0 = server.rss_bytes();
    let shared = new_shared(&server.base, 0);
    let spec = ClientSpec {
        transport,
        view: "messages".into(),
        after: None,
        role: Role::Idle,
        source_addrs,
    };
    let start = Instant::now();
    let handles = spawn_clients(common.client_threads, count, 0, in_flight, spec, shared.clone());
    let live = wait_connected(&shared, count, Duration::from_secs(300)).await;
    let all_in = start.elapsed();
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    let rss1 = server.rss_bytes();
    actix_rt::time::sleep(Duration::from_secs_f64(hold)).await;
    shared.stop.store(true, Ordering::SeqCst);
    let subs = actix_rt::task::spawn_blocking(move || join_clients(handles))
        .await
        .unwrap();
    server.stop();

    let mut run = Run::default();
    run.add("connections live", live as f64, "");
    run.add("time to open all", all_in.as_secs_f64(), "s");
    let mut ct: Vec<f64> = subs
        .iter()
        .filter_map(|s| s.connect_time.map(|d| d.as_secs_f64() * 1000.0))
        .collect();
    ct.sort_by(f64::total_cmp);
    run.add("connect time p50", pct(&ct, 50.0), "ms");
    run.add("connect time p99", pct(&ct, 99.0), "ms");
    if let (Some(a), Some(b)) = (rss0, rss1) {
        run.add("server RSS before", a / 1048576.0, "MiB");
        run.add("server RSS with all open", b / 1048576.0, "MiB");
        run.add(
            "server memory per connection",
            (b - a) / live.max(1) as f64 / 1024.0,
            "KiB",
        );
    }
    let errs: Vec<&String> = subs.iter().filter_map(|s| s.connect_err.as_ref()).collect();
    if let Some(e) = errs.first() {
        eprintln!("{} connects failed, first: {e}", errs.len());
    }
    run.zero("failed connects", (count - live) as f64);
    run
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn settings_of(s: &Scenario, c: &Common) -> Value {
    let mut v = match s {
        Scenario::IngestBatch {
            writers,
            batch,
            duration,
            no_raw,
            raw_pragma,
        } => {
            json!({"writers": writers, "batch": batch, "duration_s": duration, "raw_baseline": !no_raw, "raw_pragma": raw_pragma})
        }
        Scenario::IngestSingle { concurrency, duration } => json!({"concurrency": concurrency, "duration_s": duration}),
        Scenario::Fanout {
            subscribers,
            rate,
            duration,
            transport,
            view,
            text_bytes,
        } => {
            json!({"subscribers": subscribers, "rate": rate, "duration_s": duration, "transport": tname(*transport), "view": view, "text_bytes": text_bytes})
        }
        Scenario::SlowConsumers {
            healthy,
            stalled,
            rate,
            duration,
            transport,
            text_bytes,
        } => {
            json!({"healthy": healthy, "stalled": stalled, "rate": rate, "phase_duration_s": duration, "transport": tname(*transport), "text_bytes": text_bytes})
        }
        Scenario::ReconnectStorm {
            clients,
            behind,
            transport,
            source_addrs,
        } => {
            json!({"clients": clients, "behind": behind, "transport": tname(*transport), "source_addrs": source_addrs})
        }
        Scenario::Connections {
            count,
            transport,
            source_addrs,
            in_flight,
            hold,
        } => {
            json!({"count": count, "transport": tname(*transport), "source_addrs": source_addrs, "in_flight": in_flight, "hold_s": hold})
        }
    };
    v["server_args"] = json!(c.server_args);
    v["client_threads"] = json!(c.client_threads);
    v["cores"] = json!(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    v
}

async fn run_once(s: &Scenario, c: &Common) -> Run {
    match s.clone() {
        Scenario::IngestBatch {
            writers,
            batch,
            duration,
            no_raw,
            raw_pragma,
        } => run_ingest(c, writers, batch, duration, !no_raw, raw_pragma.as_deref()).await,
        Scenario::IngestSingle { concurrency, duration } => run_ingest(c, concurrency, 1, duration, false, None).await,
        Scenario::Fanout {
            subscribers,
            rate,
            duration,
            transport,
            view,
            text_bytes,
        } => run_fanout(c, subscribers, rate, duration, transport, &view, text_bytes).await,
        Scenario::SlowConsumers {
            healthy,
            stalled,
            rate,
            duration,
            transport,
            text_bytes,
        } => run_slow(c, healthy, stalled, rate, duration, transport, text_bytes).await,
        Scenario::ReconnectStorm {
            clients,
            behind,
            transport,
            source_addrs,
        } => run_storm(c, clients, behind, transport, source_addrs).await,
        Scenario::Connections {
            count,
            transport,
            source_addrs,
            in_flight,
            hold,
        } => run_connections(c, count, transport, source_addrs, in_flight, hold).await,
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runs = cli.common.runs.max(1);
    let mut all: Vec<Run> = Vec::new();
    for i in 0..runs {
        if !cli.common.json {
            eprintln!("{}: run {}/{runs}...", cli.scenario.name(), i + 1);
        }
        let run = actix_rt::System::new().block_on(run_once(&cli.scenario, &cli.common));
        all.push(run);
    }
    // Combine per figure name, in first-run order.
    let mut order: Vec<(String, &'static str, Agg)> = Vec::new();
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for run in &all {
        for f in &run.figures {
            if !values.contains_key(&f.name) {
                order.push((f.name.clone(), f.unit, f.agg));
            }
            values.entry(f.name.clone()).or_default().push(f.value);
        }
    }
    let combined: Vec<(String, &'static str, Agg, f64)> = order
        .into_iter()
        .map(|(name, unit, agg)| {
            let v = values[&name].clone();
            let x = match agg {
                Agg::Median => median(v),
                Agg::Max => v.into_iter().fold(0.0, f64::max),
            };
            (name, unit, agg, x)
        })
        .collect();
    let ok = combined.iter().all(|(_, _, agg, x)| *agg != Agg::Max || *x == 0.0);
    let settings = settings_of(&cli.scenario, &cli.common);
    if cli.common.json {
        let mut figures = serde_json::Map::new();
        for (name, unit, _, x) in &combined {
            figures.insert(
                name.clone(),
                json!({"value": if x.is_finite() { json!(x) } else { Value::Null }, "unit": unit}),
            );
        }
        let per_run: Vec<Value> = all
            .iter()
            .map(|r| {
                Value::Object(
                    r.figures
                        .iter()
                        .map(|f| {
                            (
                                f.name.clone(),
                                if f.value.is_finite() {
                                    json!(f.value)
                                } else {
                                    Value::Null
                                },
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        println!(
            "{}",
            json!({
                "scenario": cli.scenario.name(),
                "settings": settings,
                "runs": runs,
                "aggregate": "median over runs; zero-counters: worst run",
                "figures": figures,
                "per_run": per_run,
                "integrity_ok": ok,
            })
        );
    } else {
        println!(
            "\n== {} ==  ({} run{}, median)",
            cli.scenario.name(),
            runs,
            if runs > 1 { "s" } else { "" }
        );
        println!("settings: {settings}");
        let w = combined.iter().map(|c| c.0.len()).max().unwrap_or(10) + 2;
        for (name, unit, agg, x) in &combined {
            let mark = if *agg == Agg::Max {
                if *x == 0.0 {
                    "  ok (must be 0)"
                } else {
                    "  FAIL (must be 0)"
                }
            } else {
                ""
            };
            println!("  {:<w$}{:>16}{mark}", name, fmt_value(*x, unit));
        }
        println!("integrity: {}", if ok { "ok" } else { "FAILED" });
    }
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
