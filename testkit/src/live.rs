//! Live subscribers over WebSocket or SSE that yield parsed envelopes, and the
//! predicates tests read them with.
use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::time::{Duration, Instant};

use awc::ws;
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;

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

pub trait WsIo:
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
    /// The reason text of the server's close frame, once one came.
    pub close_reason: Option<String>,
    _client: awc::Client,
}

impl WsClient {
    pub(crate) fn new(io: Box<dyn WsIo>, client: awc::Client) -> WsClient {
        WsClient {
            io,
            end: None,
            answer_pings: true,
            pings: 0,
            close_reason: None,
            _client: client,
        }
    }

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
                        let code = reason.as_ref().map(|r| u16::from(r.code));
                        self.close_reason = reason.and_then(|r| r.description);
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
    pub(crate) fn new(
        status: u16,
        content_type: String,
        stream: Pin<Box<dyn Stream<Item = Result<Bytes, awc::error::PayloadError>>>>,
        client: awc::Client,
    ) -> SseClient {
        SseClient {
            status,
            content_type,
            stream,
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

    /// Reads until `n` envelopes of type `ty` arrived; returns every envelope read. Panics
    /// like [`Live::read_messages`].
    pub async fn read_of_type(&mut self, ty: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        let mut count = 0;
        while count < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Next::Event(v) => {
                    if matches!(state_of(&v), Some("error" | "fallback" | "reconnecting")) {
                        panic!("[{}] got {v} after {count} of {n} `{ty}`", self.transport());
                    }
                    if v["type"] == ty {
                        count += 1;
                    }
                    seen.push(v);
                }
                other => panic!(
                    "[{}] got {other:?} after {count} of {n} `{ty}`; last events:\n  {}",
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
