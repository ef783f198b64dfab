//! The two transports behind one small interface (PROTOCOL section 5): a session writes
//! events, batches and control frames through it and never asks which transport it has.
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::protocol::Event;
use super::wire::{self, Batch};
use crate::store::Cursor;

/// WebSocket ping interval, and how long a client may stay silent before it is dropped.
pub const PING_EVERY: Duration = Duration::from_secs(10);
pub const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// SSE keep-alive comment interval.
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

/// Frames that carry no event.
#[derive(Debug, Clone)]
pub enum Control {
    /// A heartbeat: a WebSocket ping, or an SSE keep-alive comment.
    Heartbeat,
    /// The answer to a WebSocket client's ping.
    Pong(Bytes),
    /// The end of the stream, with a WebSocket close code and reason.
    Close(u16, &'static str),
}

/// What a session's tick finds.
pub enum Heartbeat {
    Quiet,
    Due,
    /// The client has not been heard from for too long.
    TimedOut,
}

pub trait Transport: Send {
    /// The label for metrics.
    fn label(&self) -> &'static str;
    /// Appends one event of the session's own; `advances_id` as [`super::protocol::View::advances_id`].
    fn event(&mut self, buf: &mut BytesMut, event: &Event, advances_id: bool);
    /// A room's batch: its shared encoding when this stream can write it as is, otherwise
    /// `None` after appending this stream's own encoding to `buf`.
    fn batch<'a>(&mut self, buf: &mut BytesMut, batch: &'a Batch) -> Option<&'a Bytes>;
    fn control(&mut self, buf: &mut BytesMut, control: &Control);
    /// Whether a heartbeat is due now, given when the client was last heard from.
    fn heartbeat(&mut self, now: Instant, last_heard: Instant) -> Heartbeat;
}

/// WebSocket: one text frame per event, pings, a close frame.
pub struct Ws {
    last_ping: Instant,
}

impl Ws {
    pub fn new() -> Self {
        Ws {
            last_ping: Instant::now(),
        }
    }
}

impl Default for Ws {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for Ws {
    fn label(&self) -> &'static str {
        "ws"
    }

    fn event(&mut self, buf: &mut BytesMut, event: &Event, _: bool) {
        wire::ws_text(buf, event.json.as_bytes());
    }

    fn batch<'a>(&mut self, _: &mut BytesMut, batch: &'a Batch) -> Option<&'a Bytes> {
        Some(batch.ws())
    }

    fn control(&mut self, buf: &mut BytesMut, control: &Control) {
        match control {
            Control::Heartbeat => wire::ws_ping(buf),
            Control::Pong(payload) => wire::ws_pong(buf, payload),
            Control::Close(code, reason) => wire::ws_close(buf, *code, reason),
        }
    }

    fn heartbeat(&mut self, now: Instant, last_heard: Instant) -> Heartbeat {
        if now.duration_since(last_heard) >= PING_TIMEOUT {
            return Heartbeat::TimedOut;
        }
        if now.duration_since(self.last_ping) < PING_EVERY {
            return Heartbeat::Quiet;
        }
        self.last_ping = now;
        Heartbeat::Due
    }
}

/// Server-Sent Events: one event per envelope, `id:` the highest cursor sent so far.
pub struct Sse {
    /// The stream's `id:` so far: it never decreases, so `Last-Event-ID` resumes right.
    id: Cursor,
    last_keepalive: Instant,
}

impl Sse {
    pub fn new() -> Self {
        Sse {
            id: Cursor::default(),
            last_keepalive: Instant::now(),
        }
    }
}

impl Default for Sse {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for Sse {
    fn label(&self) -> &'static str {
        "sse"
    }

    fn event(&mut self, buf: &mut BytesMut, event: &Event, advances_id: bool) {
        if advances_id {
            self.id = self.id.max(event.cursor);
        }
        wire::sse_event(buf, event, self.id);
    }

    fn batch<'a>(&mut self, buf: &mut BytesMut, batch: &'a Batch) -> Option<&'a Bytes> {
        if batch.sse_agrees(self.id) {
            self.id = batch.sse_id_after(self.id);
            Some(batch.sse())
        } else {
            self.id = batch.encode_sse(buf, self.id);
            None
        }
    }

    fn control(&mut self, buf: &mut BytesMut, control: &Control) {
        match control {
            Control::Heartbeat => wire::sse_keepalive(buf),
            // An SSE stream has no pings to answer; it ends when its body ends.
            Control::Pong(_) | Control::Close(..) => {}
        }
    }

    fn heartbeat(&mut self, now: Instant, _: Instant) -> Heartbeat {
        if now.duration_since(self.last_keepalive) < KEEPALIVE_EVERY {
            return Heartbeat::Quiet;
        }
        self.last_keepalive = now;
        Heartbeat::Due
    }
}
