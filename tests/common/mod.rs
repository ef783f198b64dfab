//! Test harness: starts the real `chatpulse` binary on a fresh temporary
//! database and talks to it over real sockets, exactly as PROTOCOL.md says.
//!
//! `TestApp::builder().arg("--catchup-batch", 200).start().await` gives a
//! running server; `Api` (reachable through `TestApp` by deref, cloneable into
//! spawned tasks) speaks HTTP; `Live` is a WebSocket or SSE subscriber that
//! yields parsed envelopes.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use awc::ws;
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Value};

/// Default patience for anything the server should do "soon". Never used to
/// assert speed: only to turn a hang into a readable failure.
pub const WAIT: Duration = Duration::from_secs(15);
pub const LONG_WAIT: Duration = Duration::from_secs(60);

const LOG_LINES_KEPT: usize = 4000;

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
pub struct TestAppBuilder {
    args: Vec<String>,
}

impl TestAppBuilder {
    /// Adds `--flag value` to the `serve` command line.
    pub fn arg(mut self, flag: &str, value: impl ToString) -> Self {
        self.args.push(flag.to_string());
        self.args.push(value.to_string());
        self
    }

    /// Adds a bare flag such as `--demo`.
    pub fn flag(mut self, flag: &str) -> Self {
        self.args.push(flag.to_string());
        self
    }

    pub async fn start(self) -> TestApp {
        let dir = tempfile::tempdir().expect("create temp dir");
        let db = dir.path().join("test.db");
        let server = ServerProcess::spawn(&db, &self.args).await;
        let api = Api::new(server.base.clone());
        TestApp {
            _dir: dir,
            db,
            args: self.args,
            server,
            api,
        }
    }
}

struct ServerProcess {
    child: Child,
    base: String,
    logs: Arc<Mutex<VecDeque<String>>>,
    exit: Option<ExitStatus>,
}

impl ServerProcess {
    async fn spawn(db: &Path, extra: &[String]) -> ServerProcess {
        ServerProcess::spawn_on(db, "127.0.0.1:0", extra).await
    }

    async fn spawn_on(db: &Path, bind: &str, extra: &[String]) -> ServerProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatpulse"));
        cmd.arg("serve")
            .arg("--bind")
            .arg(bind)
            .arg("--database")
            .arg(db)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The environment of whoever runs the tests must not leak settings in.
        for (key, _) in std::env::vars() {
            if key.starts_with("CHATPULSE_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd.spawn().expect("spawn chatpulse binary");
        let logs = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel::<String>();
        drain(child.stderr.take().unwrap(), logs.clone(), tx.clone());
        drain(child.stdout.take().unwrap(), logs.clone(), tx);

        let deadline = Instant::now() + Duration::from_secs(20);
        let base = loop {
            match rx.try_recv() {
                Ok(line) => {
                    if let Some(addr) = parse_listening(&line) {
                        break format!("http://{addr}");
                    }
                    continue;
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Give the drain threads a moment to collect the last words.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "chatpulse exited with {status} before it was listening; log:\n{}",
                    dump(&logs, 100)
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chatpulse did not log `listening on http://...` within 20 s; log:\n{}",
                    dump(&logs, 100)
                );
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        };
        ServerProcess {
            child,
            base,
            logs,
            exit: None,
        }
    }
}

fn drain(pipe: impl Read + Send + 'static, logs: Arc<Mutex<VecDeque<String>>>, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                    {
                        let mut l = logs.lock().unwrap();
                        if l.len() >= LOG_LINES_KEPT {
                            l.pop_front();
                        }
                        l.push_back(line.clone());
                    }
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
    if addr.is_empty() {
        None
    } else {
        Some(addr)
    }
}

fn dump(logs: &Arc<Mutex<VecDeque<String>>>, last: usize) -> String {
    let l = logs.lock().unwrap();
    let skip = l.len().saturating_sub(last);
    l.iter().skip(skip).cloned().collect::<Vec<_>>().join("\n")
}

/// A running server on its own temporary database.
pub struct TestApp {
    _dir: tempfile::TempDir,
    db: PathBuf,
    args: Vec<String>,
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
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
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
        self.server.child.id()
    }

    /// Last lines the server wrote to stderr/stdout.
    pub fn log_tail(&self, lines: usize) -> String {
        dump(&self.server.logs, lines)
    }

    /// Sends SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits (without blocking the runtime) for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.server.exit {
            return s;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.server.child.try_wait().expect("try_wait") {
                self.server.exit = Some(status);
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
        if self.server.exit.is_some() {
            return;
        }
        let _ = self.server.child.kill();
        let status = self.server.child.wait().expect("wait after kill");
        self.server.exit = Some(status);
    }

    /// Starts the server again with the same flags on the same database (on
    /// a new port). Stops the old process first if it is still running.
    pub async fn restart(&mut self) {
        if self.server.exit.is_none() {
            if let Ok(None) = self.server.child.try_wait() {
                self.sigterm().await;
            }
        }
        let server = ServerProcess::spawn(&self.db, &self.args).await;
        self.api = Api::new(server.base.clone());
        self.server = server;
    }

    /// Starts the server again with the same flags on the same database and the same
    /// address, as a browser page that stays open expects. The old process must have
    /// exited (see [`TestApp::sigterm`], [`TestApp::kill9`]).
    pub async fn restart_on_same_address(&mut self) {
        assert!(
            self.server.exit.is_some(),
            "restart_on_same_address: stop the running server first"
        );
        let addr = self.api.host_port().to_string();
        let server = ServerProcess::spawn_on(&self.db, &addr, &self.args).await;
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
        }
        if self.server.exit.is_none() {
            let _ = self.server.child.kill();
            let _ = self.server.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// A response, fully read.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
    /// The body parsed as JSON, or `Null` when it is not JSON.
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn error_code(&self) -> Option<&str> {
        self.json["error"]["code"].as_str()
    }

    /// Asserts the status and, for errors, the `error.code` of the body.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status, status,
            "expected HTTP {status} `{code}`, got {}: {}",
            self.status, self.text
        );
        assert_eq!(
            self.error_code(),
            Some(code),
            "expected error.code `{code}` in body: {}",
            self.text
        );
        assert!(
            self.json["error"]["message"].is_string(),
            "error body should carry a human `message`: {}",
            self.text
        );
    }
}

impl fmt::Display for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.text)
    }
}

fn http_client(timeout: Option<Duration>) -> awc::Client {
    let connector = awc::Connector::new()
        // Shorter than any sane server keep-alive so a pooled connection is
        // never reused after the server dropped it.
        .conn_keep_alive(Duration::from_secs(1))
        .limit(256);
    let b = awc::Client::builder().connector(connector);
    match timeout {
        Some(t) => b.timeout(t).finish(),
        None => b.disable_timeout().finish(),
    }
}

/// The HTTP side of a running server. Cheap to clone into spawned tasks.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: awc::Client,
}

impl Api {
    pub fn new(base: String) -> Api {
        Api {
            base,
            client: http_client(Some(Duration::from_secs(90))),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn host_port(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    async fn read(mut res: awc::ClientResponse) -> Result<Resp, String> {
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).to_string(),
                )
            })
            .collect();
        let body = res
            .body()
            .limit(256 * 1024 * 1024)
            .await
            .map_err(|e| format!("reading body: {e}"))?;
        let text = String::from_utf8_lossy(&body).to_string();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            json,
        })
    }

    /// POST /api/messages with any body; `Err` only on transport failure.
    pub async fn try_post_raw(
        &self,
        body: impl Into<Bytes>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Result<Resp, String> {
        let mut req = self.client.post(self.url("/api/messages"));
        if !content_type.is_empty() {
            req = req.insert_header(("Content-Type", content_type.to_string()));
        }
        for (k, v) in headers {
            req = req.insert_header((k.to_string(), v.to_string()));
        }
        let body: Bytes = body.into();
        let res = req
            .send_body(body)
            .await
            .map_err(|e| format!("POST /api/messages: {e}"))?;
        Api::read(res).await
    }

    pub async fn post_raw(&self, body: impl Into<Bytes>, content_type: &str, headers: &[(&str, &str)]) -> Resp {
        self.try_post_raw(body, content_type, headers)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn post_json(&self, body: &Value) -> Resp {
        self.post_raw(serde_json::to_vec(body).unwrap(), "application/json", &[])
            .await
    }

    pub async fn try_post_json(&self, body: &Value) -> Result<Resp, String> {
        self.try_post_raw(serde_json::to_vec(body).unwrap(), "application/json", &[])
            .await
    }

    /// Ingests and asserts 201; returns the response body.
    pub async fn ingest(&self, messages: &[Value]) -> Value {
        let r = self.post_json(&Value::Array(messages.to_vec())).await;
        assert_eq!(r.status, 201, "ingest of {} messages: {r}", messages.len());
        r.json
    }

    /// Ingests and returns the ids in request order.
    pub async fn ingest_ids(&self, messages: &[Value]) -> Vec<i64> {
        let body = self.ingest(messages).await;
        ids_of(&body)
    }

    /// Ingests in chunks of `chunk`, returns all ids.
    pub async fn ingest_chunked(&self, messages: &[Value], chunk: usize) -> Vec<i64> {
        let mut ids = Vec::with_capacity(messages.len());
        for part in messages.chunks(chunk) {
            ids.extend(self.ingest_ids(part).await);
        }
        ids
    }

    pub async fn try_get(&self, path: &str) -> Result<Resp, String> {
        let res = self
            .client
            .get(self.url(path))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        Api::read(res).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.try_get(path).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// GET that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {r}");
        assert!(!r.json.is_null(), "GET {path} did not return JSON: {r}");
        r.json
    }

    pub async fn api_metrics(&self) -> Value {
        self.get_json("/api/metrics").await
    }

    pub async fn total_messages(&self) -> i64 {
        self.api_metrics().await["total_messages"]
            .as_i64()
            .expect("total_messages is an integer")
    }

    pub async fn epoch(&self) -> String {
        self.api_metrics().await["epoch"]
            .as_str()
            .expect("epoch is a string")
            .to_string()
    }

    pub async fn cursor(&self) -> i64 {
        self.api_metrics().await["cursor"]
            .as_i64()
            .expect("cursor is an integer")
    }

    /// Asserts that nothing at all is stored: no messages, channels, users.
    pub async fn assert_nothing_stored(&self) {
        let m = self.api_metrics().await;
        assert_eq!(m["total_messages"], json!(0), "a rejected request stored messages: {m}");
        assert_eq!(
            m["total_channels"],
            json!(0),
            "a rejected request created channels: {m}"
        );
        assert_eq!(m["total_users"], json!(0), "a rejected request created users: {m}");
    }

    /// Every stored message after `after`, ascending, paging through
    /// `/api/messages?after_id=`.
    pub async fn stored_messages_after(&self, after: i64) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut cursor = after;
        loop {
            let page = self
                .get_json(&format!("/api/messages?after_id={cursor}&limit=1000"))
                .await;
            let msgs = page["messages"]
                .as_array()
                .unwrap_or_else(|| panic!("/api/messages without `messages`: {page}"))
                .clone();
            if msgs.is_empty() {
                break;
            }
            for m in msgs {
                let id = m["id"].as_i64().expect("message id");
                assert!(id > cursor, "/api/messages?after_id={cursor} returned id {id}");
                cursor = id;
                out.push(m);
            }
        }
        out
    }

    pub async fn stored_ids_after(&self, after: i64) -> Vec<i64> {
        self.stored_messages_after(after)
            .await
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    }

    pub async fn stored_ids(&self) -> Vec<i64> {
        self.stored_ids_after(0).await
    }

    /// Every entry of a paged list route (`/api/channels`, `/api/users`).
    pub async fn all_pages(&self, route: &str, key: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let sep = if route.contains('?') { '&' } else { '?' };
            let page = self.get_json(&format!("{route}{sep}limit=100&offset={offset}")).await;
            let items = page[key]
                .as_array()
                .unwrap_or_else(|| panic!("{route} without `{key}`: {page}"))
                .clone();
            if items.is_empty() {
                break;
            }
            offset += items.len();
            out.extend(items);
            assert!(offset < 1_000_000, "{route} paging does not end");
        }
        out
    }

    pub async fn metrics_text(&self) -> String {
        let r = self.get("/metrics").await;
        assert_eq!(r.status, 200, "GET /metrics: HTTP {}", r.status);
        r.text
    }

    /// Sum of the samples matching `name{labels}` (labels are a subset
    /// match); `None` when no sample matches.
    pub async fn metric_opt(&self, query: &str) -> Option<f64> {
        parse_metric(&self.metrics_text().await, query)
    }

    /// A metric that must be exposed.
    pub async fn metric(&self, query: &str) -> f64 {
        let text = self.metrics_text().await;
        parse_metric(&text, query).unwrap_or_else(|| {
            let names: Vec<&str> = text.lines().filter(|l| l.starts_with("chatpulse_")).collect();
            panic!(
                "metric `{query}` is not exposed; chatpulse samples:\n{}",
                names.join("\n")
            )
        })
    }

    /// A counter that may not be exposed before its first increment.
    pub async fn metric_or_zero(&self, query: &str) -> f64 {
        self.metric_opt(query).await.unwrap_or(0.0)
    }

    /// Polls `/metrics` until `pred` holds for `query`; returns the last value.
    pub async fn wait_metric(&self, query: &str, timeout: Duration, pred: impl Fn(f64) -> bool) -> Result<f64, f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.metric_or_zero(query).await;
            if pred(v) {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(v);
            }
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Polls until the store holds `n` messages.
    pub async fn wait_total_messages(&self, n: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.total_messages().await;
            if t == n {
                return;
            }
            assert!(Instant::now() < deadline, "store holds {t} messages, expected {n}");
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
    }

    // -- live ----------------------------------------------------------------

    pub fn live_query(view: &str, after_id: Option<i64>, epoch: Option<&str>) -> String {
        let mut q = format!("view={}", enc(view));
        if let Some(a) = after_id {
            q.push_str(&format!("&after_id={a}"));
        }
        if let Some(e) = epoch {
            q.push_str(&format!("&epoch={}", enc(e)));
        }
        q
    }

    /// Opens `/live/ws?{query}`; `Err(status)` when the handshake is refused.
    pub async fn ws_connect(&self, query: &str, origin: Option<&str>) -> Result<WsClient, WsRefused> {
        let client = http_client(Some(Duration::from_secs(20)));
        let mut req = client
            .ws(self.url(&format!("/live/ws?{query}")))
            .max_frame_size(64 * 1024 * 1024);
        if let Some(o) = origin {
            req = req.origin(o);
        }
        match req.connect().await {
            Ok((_res, framed)) => Ok(WsClient {
                io: Box::new(framed),
                end: None,
                answer_pings: true,
                pings: 0,
                _client: client,
            }),
            Err(awc::error::WsClientError::InvalidResponseStatus(s)) => Err(WsRefused::Status(s.as_u16())),
            Err(e) => Err(WsRefused::Other(e.to_string())),
        }
    }

    pub async fn ws(&self, view: &str, after_id: Option<i64>, epoch: Option<&str>) -> Live {
        let q = Api::live_query(view, after_id, epoch);
        match self.ws_connect(&q, None).await {
            Ok(c) => Live::Ws(c),
            Err(e) => panic!("WebSocket /live/ws?{q} refused: {e:?}"),
        }
    }

    /// Opens `/live/sse?{query}` with extra headers; any HTTP status.
    pub async fn sse_connect(&self, query: &str, headers: &[(&str, &str)]) -> SseClient {
        let client = http_client(None);
        let mut req = client
            .get(self.url(&format!("/live/sse?{query}")))
            .insert_header(("Accept", "text/event-stream"));
        for (k, v) in headers {
            req = req.insert_header((k.to_string(), v.to_string()));
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /live/sse?{query}: {e}"));
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string())
            .unwrap_or_default();
        SseClient {
            status,
            content_type,
            stream: Box::pin(res),
            buf: Vec::new(),
            ready: VecDeque::new(),
            cur_event: None,
            cur_data: Vec::new(),
            cur_id: None,
            last_id: None,
            comments: 0,
            end: None,
            _client: client,
        }
    }

    pub async fn sse(
        &self,
        view: &str,
        after_id: Option<i64>,
        epoch: Option<&str>,
        last_event_id: Option<&str>,
    ) -> Live {
        let q = Api::live_query(view, after_id, epoch);
        let headers: Vec<(&str, &str)> = match last_event_id {
            Some(id) => vec![("Last-Event-ID", id)],
            None => vec![],
        };
        let c = self.sse_connect(&q, &headers).await;
        assert_eq!(c.status, 200, "GET /live/sse?{q}: HTTP {}", c.status);
        assert!(
            c.content_type.starts_with("text/event-stream"),
            "GET /live/sse?{q}: content-type `{}`",
            c.content_type
        );
        Live::Sse(c)
    }

    pub async fn live(&self, t: Transport, view: &str, after_id: Option<i64>, epoch: Option<&str>) -> Live {
        match t {
            Transport::Ws => self.ws(view, after_id, epoch).await,
            Transport::Sse => self.sse(view, after_id, epoch, None).await,
        }
    }
}

/// Percent-encodes a query component.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Prometheus text
// ---------------------------------------------------------------------------

fn parse_labels(s: &str) -> Vec<(String, String)> {
    // s is the text between `{` and `}`.
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        chars.next(); // '='
        if chars.next() != Some('"') {
            break;
        }
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        val.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => break,
                c => val.push(c),
            }
        }
        out.push((key.trim().to_string(), val));
    }
    out
}

fn split_series(series: &str) -> (String, Vec<(String, String)>) {
    match series.find('{') {
        Some(i) => {
            let end = series.rfind('}').unwrap_or(series.len());
            (series[..i].to_string(), parse_labels(&series[i + 1..end]))
        }
        None => (series.trim().to_string(), Vec::new()),
    }
}

fn label_eq(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Sums the samples of `text` whose name is the query's name and whose
/// labels include every label of the query.
pub fn parse_metric(text: &str, query: &str) -> Option<f64> {
    let (qname, qlabels) = split_series(query);
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, rest) = match line.find('}') {
            Some(i) if line[..i].contains('{') => (&line[..=i], &line[i + 1..]),
            _ => match line.find(char::is_whitespace) {
                Some(i) => (&line[..i], &line[i..]),
                None => continue,
            },
        };
        let (name, labels) = split_series(series);
        if name != qname {
            continue;
        }
        let all = qlabels
            .iter()
            .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && label_eq(lv, v)));
        if !all {
            continue;
        }
        let value = rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok());
        if let Some(v) = value {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Live clients
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Ws,
    Sse,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Ws => "ws",
            Transport::Sse => "sse",
        })
    }
}

/// What a live connection produced next.
#[derive(Clone, Debug)]
pub enum Next {
    Event(Value),
    /// WebSocket close frame (with its code, if any).
    Closed(Option<u16>),
    /// The stream or socket ended without a close frame (EOF, reset, error).
    Ended(String),
    /// Nothing within the wait.
    Timeout,
}

impl Next {
    pub fn is_end(&self) -> bool {
        matches!(self, Next::Closed(_) | Next::Ended(_))
    }
}

#[derive(Debug)]
pub enum WsRefused {
    Status(u16),
    Other(String),
}

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

pub struct WsClient {
    io: Box<dyn WsIo>,
    end: Option<Next>,
    /// Answer the server's pings (on by default).
    pub answer_pings: bool,
    /// Pings received so far.
    pub pings: usize,
    _client: awc::Client,
}

impl WsClient {
    pub async fn next(&mut self, timeout: Duration) -> Next {
        if let Some(end) = &self.end {
            return end.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let item = match actix_rt::time::timeout(left, self.io.next()).await {
                Err(_) => return Next::Timeout,
                Ok(item) => item,
            };
            let next = match item {
                None => Next::Ended("EOF".into()),
                Some(Err(e)) => Next::Ended(format!("protocol error: {e}")),
                Some(Ok(frame)) => match frame {
                    ws::Frame::Text(b) => match serde_json::from_slice::<Value>(&b) {
                        Ok(v) => return Next::Event(v),
                        Err(e) => panic!(
                            "WebSocket text frame is not JSON ({e}): {}",
                            String::from_utf8_lossy(&b)
                        ),
                    },
                    ws::Frame::Binary(b) => {
                        panic!("unexpected binary frame of {} bytes", b.len())
                    }
                    ws::Frame::Continuation(_) => {
                        panic!("unexpected fragmented frame: one envelope per text frame")
                    }
                    ws::Frame::Ping(b) => {
                        self.pings += 1;
                        if self.answer_pings {
                            let _ = self.io.send(ws::Message::Pong(b)).await;
                        }
                        continue;
                    }
                    ws::Frame::Pong(_) => continue,
                    ws::Frame::Close(reason) => {
                        let code = reason.map(|r| u16::from(r.code));
                        let _ = self.io.send(ws::Message::Close(None)).await;
                        Next::Closed(code)
                    }
                },
            };
            self.end = Some(next.clone());
            return next;
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.io
            .send(ws::Message::Text(text.to_string().into()))
            .await
            .expect("send WebSocket text frame");
    }

    pub async fn close(&mut self) {
        let _ = self
            .io
            .send(ws::Message::Close(Some(ws::CloseCode::Normal.into())))
            .await;
    }
}

pub struct SseClient {
    pub status: u16,
    pub content_type: String,
    stream: Pin<Box<dyn Stream<Item = Result<Bytes, awc::error::PayloadError>>>>,
    buf: Vec<u8>,
    ready: VecDeque<Value>,
    cur_event: Option<String>,
    cur_data: Vec<String>,
    cur_id: Option<String>,
    /// Highest SSE `id:` seen so far.
    pub last_id: Option<i64>,
    /// Comment (keep-alive) lines seen.
    pub comments: usize,
    end: Option<Next>,
    _client: awc::Client,
}

impl SseClient {
    fn take_line(&mut self) -> Option<String> {
        let pos = self.buf.iter().position(|b| *b == b'\n' || *b == b'\r')?;
        // A lone `\r` at the very end may be the first half of `\r\n`.
        if self.buf[pos] == b'\r' && pos + 1 == self.buf.len() {
            return None;
        }
        let line = String::from_utf8_lossy(&self.buf[..pos]).to_string();
        let skip = if self.buf[pos] == b'\r' && self.buf.get(pos + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        self.buf.drain(..pos + skip);
        Some(line)
    }

    fn dispatch(&mut self) {
        let event = self.cur_event.take();
        let id = self.cur_id.take();
        if self.cur_data.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.cur_data).join("\n");
        let value: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {data}"));
        if let Some(ev) = &event {
            assert_eq!(
                Some(ev.as_str()),
                value["type"].as_str(),
                "SSE `event:` must name the envelope type: {data}"
            );
        }
        if let Some(id) = id {
            let n: i64 = id
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("SSE id `{id}` is not a cursor"));
            if let Some(prev) = self.last_id {
                assert!(n >= prev, "SSE id went backwards from {prev} to {n} (at event {data})");
            }
            self.last_id = Some(n);
        }
        self.ready.push_back(value);
    }

    fn parse_lines(&mut self) {
        while let Some(line) = self.take_line() {
            if line.is_empty() {
                self.dispatch();
            } else if line.starts_with(':') {
                self.comments += 1;
            } else {
                let (field, value) = match line.find(':') {
                    Some(i) => {
                        let v = &line[i + 1..];
                        (&line[..i], v.strip_prefix(' ').unwrap_or(v))
                    }
                    None => (line.as_str(), ""),
                };
                match field {
                    "event" => self.cur_event = Some(value.to_string()),
                    "data" => self.cur_data.push(value.to_string()),
                    "id" => self.cur_id = Some(value.to_string()),
                    _ => {}
                }
            }
        }
    }

    pub async fn next(&mut self, timeout: Duration) -> Next {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.ready.pop_front() {
                return Next::Event(v);
            }
            if let Some(end) = &self.end {
                return end.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match actix_rt::time::timeout(left, self.stream.next()).await {
                Err(_) => return Next::Timeout,
                Ok(None) => {
                    self.buf.push(b'\n');
                    self.parse_lines();
                    self.end = Some(Next::Ended("EOF".into()));
                }
                Ok(Some(Err(e))) => {
                    self.end = Some(Next::Ended(format!("stream error: {e}")));
                }
                Ok(Some(Ok(chunk))) => {
                    self.buf.extend_from_slice(&chunk);
                    self.parse_lines();
                }
            }
        }
    }
}

/// A live subscriber over either transport.
pub enum Live {
    Ws(WsClient),
    Sse(SseClient),
}

pub fn state_of(v: &Value) -> Option<&str> {
    if v["type"] == "status" {
        v["state"].as_str()
    } else {
        None
    }
}

pub fn is_status(v: &Value, state: &str) -> bool {
    state_of(v) == Some(state)
}

pub fn is_message(v: &Value) -> bool {
    v["type"] == "message"
}

/// `message_id` of a message envelope.
pub fn mid(v: &Value) -> i64 {
    v["message_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("message envelope without integer message_id: {v}"))
}

pub fn message_ids(events: &[Value]) -> Vec<i64> {
    events.iter().filter(|e| is_message(e)).map(mid).collect()
}

fn short(events: &[Value]) -> String {
    let n = events.len();
    let mut s: Vec<String> = events
        .iter()
        .skip(n.saturating_sub(6))
        .map(|e| {
            let t = e.to_string();
            if t.len() > 300 {
                format!("{}...", &t[..300])
            } else {
                t
            }
        })
        .collect();
    if n > 6 {
        s.insert(0, format!("... ({} earlier events)", n - 6));
    }
    s.join("\n  ")
}

impl Live {
    pub fn transport(&self) -> Transport {
        match self {
            Live::Ws(_) => Transport::Ws,
            Live::Sse(_) => Transport::Sse,
        }
    }

    pub async fn next(&mut self, timeout: Duration) -> Next {
        match self {
            Live::Ws(c) => c.next(timeout).await,
            Live::Sse(c) => c.next(timeout).await,
        }
    }

    pub fn ws_mut(&mut self) -> &mut WsClient {
        match self {
            Live::Ws(c) => c,
            Live::Sse(_) => panic!("not a WebSocket"),
        }
    }

    /// SSE comment (keep-alive) lines seen so far.
    pub fn sse_comments(&self) -> usize {
        match self {
            Live::Sse(c) => c.comments,
            Live::Ws(_) => 0,
        }
    }

    pub fn sse_last_id(&self) -> Option<i64> {
        match self {
            Live::Sse(c) => c.last_id,
            Live::Ws(_) => None,
        }
    }

    /// Reads events until a `status` with `state`; returns the events before
    /// it and the status itself. Panics on end of stream or timeout.
    pub async fn until_status(&mut self, state: &str, timeout: Duration) -> (Vec<Value>, Value) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Next::Event(v) => {
                    if is_status(&v, state) {
                        return (seen, v);
                    }
                    seen.push(v);
                }
                other => panic!(
                    "[{}] waiting for status `{state}`, got {other:?} after events:\n  {}",
                    self.transport(),
                    short(&seen)
                ),
            }
        }
    }

    /// Reads the initial state up to `status: connected`. Panics if an
    /// error/fallback status comes instead.
    pub async fn until_connected(&mut self, timeout: Duration) -> (Vec<Value>, Value) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Next::Event(v) => match state_of(&v) {
                    Some("connected") => return (seen, v),
                    Some("error") | Some("fallback") | Some("reconnecting") => panic!(
                        "[{}] expected `connected`, got {v} after events:\n  {}",
                        self.transport(),
                        short(&seen)
                    ),
                    _ => seen.push(v),
                },
                other => panic!(
                    "[{}] waiting for status `connected`, got {other:?} after events:\n  {}",
                    self.transport(),
                    short(&seen)
                ),
            }
        }
    }

    /// Reads until `n` message events arrived; returns every event read
    /// (messages and others). Panics on an error/fallback/reconnecting
    /// status, end of stream or timeout.
    pub async fn read_messages(&mut self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        let mut count = 0;
        while count < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Next::Event(v) => {
                    if matches!(state_of(&v), Some("error" | "fallback" | "reconnecting")) {
                        panic!("[{}] got {v} after {count} of {n} messages", self.transport());
                    }
                    if is_message(&v) {
                        count += 1;
                    }
                    seen.push(v);
                }
                other => panic!(
                    "[{}] got {other:?} after {count} of {n} messages; last events:\n  {}",
                    self.transport(),
                    short(&seen)
                ),
            }
        }
        seen
    }

    /// Reads for `dur` (the connection must stay open); returns the events.
    pub async fn read_for(&mut self, dur: Duration) -> Vec<Value> {
        let deadline = Instant::now() + dur;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return seen;
            }
            match self.next(left).await {
                Next::Event(v) => seen.push(v),
                Next::Timeout => return seen,
                other => panic!(
                    "[{}] connection ended ({other:?}) while it should stay open; events:\n  {}",
                    self.transport(),
                    short(&seen)
                ),
            }
        }
    }

    /// Reads until the connection ends (or the wait runs out, which yields
    /// `Next::Timeout`); returns the events and how it ended.
    pub async fn read_to_end(&mut self, timeout: Duration) -> (Vec<Value>, Next) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Next::Event(v) => seen.push(v),
                end => return (seen, end),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Messages and assertions
// ---------------------------------------------------------------------------

pub fn msg(channel: &str, user: &str, text: &str) -> Value {
    json!({"channel": channel, "user": user, "text": text})
}

/// `n` messages in one channel from one user with numbered texts.
pub fn numbered(channel: &str, user: &str, prefix: &str, n: usize) -> Vec<Value> {
    (0..n).map(|i| msg(channel, user, &format!("{prefix} {i}"))).collect()
}

pub fn ids_of(body: &Value) -> Vec<i64> {
    body["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("ingest response without `ids`: {body}"))
        .iter()
        .map(|v| v.as_i64().expect("ids are integers"))
        .collect()
}

/// Asserts `got` is exactly `expected`, explaining the first difference,
/// duplicates and missing ids.
pub fn assert_same_ids(what: &str, got: &[i64], expected: &[i64]) {
    if got == expected {
        return;
    }
    let mut seen = HashSet::new();
    let dups: Vec<i64> = got.iter().filter(|i| !seen.insert(**i)).copied().collect();
    let got_set: HashSet<i64> = got.iter().copied().collect();
    let exp_set: HashSet<i64> = expected.iter().copied().collect();
    let missing: Vec<i64> = expected.iter().filter(|i| !got_set.contains(i)).copied().collect();
    let extra: Vec<i64> = got.iter().filter(|i| !exp_set.contains(i)).copied().collect();
    let first = got
        .iter()
        .zip(expected.iter())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    panic!(
        "{what}: got {} ids, expected {}; first difference at position {first} \
         (got {:?}, expected {:?}); {} duplicates {:?}; {} missing {:?}; {} unexpected {:?}",
        got.len(),
        expected.len(),
        got.get(first),
        expected.get(first),
        dups.len(),
        &dups[..dups.len().min(10)],
        missing.len(),
        &missing[..missing.len().min(10)],
        extra.len(),
        &extra[..extra.len().min(10)],
    );
}

pub fn assert_strictly_increasing(what: &str, ids: &[i64]) {
    for w in ids.windows(2) {
        assert!(
            w[0] < w[1],
            "{what}: ids not strictly increasing ({} then {})",
            w[0],
            w[1]
        );
    }
}

/// Latest-value-wins view of count events, keyed by entity name.
#[derive(Default, Debug, Clone)]
pub struct Counts {
    pub totals: BTreeMap<String, i64>,
    pub cursors: BTreeMap<String, i64>,
    pub events: usize,
}

impl Counts {
    /// Applies a `channel_count` / `user_count` / `user_profile` event,
    /// checking that an entity's count never goes backwards.
    pub fn apply(&mut self, v: &Value) {
        let name_key = match v["type"].as_str() {
            Some("channel_count") => "channel",
            Some("user_count") | Some("user_profile") => "user",
            _ => return,
        };
        let name = v[name_key]
            .as_str()
            .unwrap_or_else(|| panic!("count event without `{name_key}`: {v}"))
            .to_string();
        let total = v["total_messages"]
            .as_i64()
            .unwrap_or_else(|| panic!("count event without integer total_messages: {v}"));
        let cursor = v["cursor"]
            .as_i64()
            .unwrap_or_else(|| panic!("count event without integer cursor: {v}"));
        if let Some(prev) = self.totals.get(&name) {
            assert!(
                total >= *prev,
                "count for `{name}` went backwards from {prev} to {total}: {v}"
            );
        }
        if let Some(prev) = self.cursors.get(&name) {
            assert!(
                cursor >= *prev,
                "cursor of `{name}` count went backwards from {prev} to {cursor}: {v}"
            );
        }
        self.totals.insert(name.clone(), total);
        self.cursors.insert(name, cursor);
        self.events += 1;
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
}
