//! The HTTP side of a running server: requests, fully read responses, the read API,
//! `/metrics`, and opening live connections.
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::checks::ids_of;
use crate::live::{Live, SseClient, Transport, WsClient, WsRefused};
use crate::prometheus::parse_metric;

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

pub(crate) fn http_client(timeout: Option<Duration>) -> awc::Client {
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
        self.try_post_to("/api/messages", body, content_type, headers).await
    }

    /// A raw body to `path` (an upload, say).
    pub async fn post_to(
        &self,
        path: &str,
        body: impl Into<Bytes>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Resp {
        self.try_post_to(path, body, content_type, headers)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn try_post_to(
        &self,
        path: &str,
        body: impl Into<Bytes>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Result<Resp, String> {
        let mut req = self.client.post(self.url(path));
        if !content_type.is_empty() {
            req = req.insert_header(("Content-Type", content_type.to_string()));
        }
        for (k, v) in headers {
            req = req.insert_header((k.to_string(), v.to_string()));
        }
        let body: Bytes = body.into();
        let res = req.send_body(body).await.map_err(|e| format!("POST {path}: {e}"))?;
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

    /// Any request with an optional user token and JSON body; `Err` only on transport failure.
    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Resp, String> {
        let method = awc::http::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let res = match body {
            Some(b) => req.send_json(b).await,
            None => req.send().await,
        }
        .map_err(|e| format!("{method} {path}: {e}"))?;
        Api::read(res).await
    }

    /// [`Api::try_request`] that must reach the server.
    pub async fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
        self.try_request(method, path, token, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
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

    /// The epoch from `GET /api/metrics`, or `None` when the server does not answer with one.
    pub async fn try_epoch(&self) -> Option<String> {
        let resp = self.try_get("/api/metrics").await.ok()?;
        resp.json["epoch"].as_str().map(str::to_string)
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
            Ok((_res, framed)) => Ok(WsClient::new(Box::new(framed), client)),
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
        SseClient::new(status, content_type, Box::pin(res), client)
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
