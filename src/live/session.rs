//! One actor per live connection, WebSocket or SSE. It subscribes to its view's room,
//! catches up from `after_id` in capped batches, then forwards room output through a
//! queue bounded in bytes, writing encoded bytes straight into its response body (a room's
//! batches go out as the room's shared encoding). A full queue ends the connection with the
//! overflow status; a client that does not read even that is disconnected after
//! [`CLOSE_GRACE`], and one whose socket accepts nothing for `--write-timeout-ms` is
//! disconnected at once.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{Frame as WsFrame, ProtocolError};
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc::error::TrySendError;

use super::hub::{Subscribe, Unsubscribe};
use super::protocol::{self, ClientFrame, Event, Status, View};
use super::wire::{self, Batch, Transport};
use super::{BatchKey, ConnFd, Live, Sink, Slot};
use crate::metrics::METRICS;
use crate::store::{self, MessageFilter};

/// How long a closing connection may take to accept its last status before its socket is shut.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// WebSocket ping interval, and how long a client may stay silent before it is dropped.
pub const PING_EVERY: Duration = Duration::from_secs(10);
pub const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// SSE keep-alive comment interval.
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);
/// Room deliveries a session's mailbox holds; a room that finds it full drops the session.
pub const MAILBOX: usize = 256;
/// Frames handed to the socket per write.
const WRITE_BATCH: usize = 256;

#[derive(Clone)]
pub enum Payload {
    Events(Arc<Batch>),
    Overflowed,
    Shutdown,
}

/// What a room sends a session.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver {
    pub subscription: u64,
    pub payload: Payload,
}

enum Frame {
    /// An event of this session's own (catch-up, status), encoded when written.
    Event {
        event: Event,
        committed_at: Option<Instant>,
        advances_id: bool,
    },
    /// A room's batch, written as the room's shared encoding.
    Batch(Arc<Batch>),
    Ping,
    Pong(Bytes),
    KeepAlive,
    Close(u16),
}

impl Frame {
    fn size(&self) -> usize {
        match self {
            Frame::Event { event, .. } => event.json.len(),
            Frame::Batch(batch) => batch.json_bytes,
            _ => 0,
        }
    }

    /// An event of the session's own, with no commit behind it (catch-up, status).
    fn own(event: Event, advances_id: bool) -> Self {
        Frame::Event {
            event,
            committed_at: None,
            advances_id,
        }
    }

    fn is_event(&self) -> bool {
        matches!(self, Frame::Event { .. } | Frame::Batch(_))
    }
}

/// A chunk handed to the response body, and what to account for once it is taken.
struct Chunk {
    bytes: Bytes,
    /// The events' JSON bytes, counted by the queue.
    size: usize,
    /// Per event type, how many.
    kinds: Vec<(&'static str, u64)>,
    /// Commit times, each with how many events it covers.
    committed: Vec<(Instant, u64)>,
    close: bool,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Phase {
    Subscribing,
    CatchingUp,
    Live,
    Closing,
}

/// What is left of a catch-up: events read but not yet queued, and where to read on.
struct Catchup {
    ready: VecDeque<Event>,
    next_after: Option<i64>,
    upto: i64,
    filter: MessageFilter,
    reading: bool,
}

pub struct LiveSession {
    id: u64,
    live: Arc<Live>,
    transport: Transport,
    /// The response body; gone once the close frame is handed to it.
    sink: Option<Sink>,
    fd: Option<ConnFd>,
    _slot: Slot,

    view: Option<View>,
    subscription: u64,
    phase: Phase,
    catchup: Option<Catchup>,
    buffered: Vec<Arc<Batch>>,
    buffered_bytes: usize,
    /// Message events at or below this were sent by the catch-up.
    backlog_until: i64,
    /// The highest cursor written on this stream (SSE `id:`).
    sent_cursor: i64,
    newest: i64,

    queue: VecDeque<Frame>,
    queued_bytes: usize,
    /// Whether a chunk is waiting for room in the response body.
    writing: bool,
    /// Since when it has waited.
    write_started: Instant,
    close_reason: &'static str,

    last_event: Instant,
    idle_sent: bool,
    last_heard: Instant,
    last_ping: Instant,
    last_keepalive: Instant,
}

/// How a session is asked to start.
pub struct Start {
    pub view: View,
    pub after_id: Option<i64>,
    pub epoch: Option<String>,
}

impl LiveSession {
    pub fn new(live: Arc<Live>, transport: Transport, sink: Sink, fd: Option<ConnFd>, slot: Slot) -> Self {
        let now = Instant::now();
        if let (Some(fd), n @ 1..) = (fd, live.settings.send_buffer_bytes) {
            fd.set_send_buffer(n);
        }
        METRICS
            .live_connections_opened
            .with_label_values(&[transport.label()])
            .inc();
        LiveSession {
            id: live.next_id(),
            live,
            transport,
            sink: Some(sink),
            fd,
            _slot: slot,
            view: None,
            subscription: 0,
            phase: Phase::Subscribing,
            catchup: None,
            buffered: Vec::new(),
            buffered_bytes: 0,
            backlog_until: 0,
            sent_cursor: 0,
            newest: 0,
            queue: VecDeque::new(),
            queued_bytes: 0,
            writing: false,
            write_started: now,
            close_reason: "normal",
            last_event: now,
            idle_sent: false,
            last_heard: now,
            last_ping: now,
            last_keepalive: now,
        }
    }

    pub fn start_with(self, start: Start, ws: Option<WsFrames>) -> Addr<Self> {
        LiveSession::create(move |ctx| {
            if let Some(stream) = ws {
                ctx.add_stream(stream);
            }
            let mut s = self;
            s.subscribe(start, ctx);
            s
        })
    }

    fn epoch(&self) -> &str {
        self.live.store.epoch()
    }

    fn subscribe(&mut self, start: Start, ctx: &mut Context<Self>) {
        if self.phase == Phase::Closing {
            return;
        }
        if let Some(old) = self.view.take() {
            self.live.hub.do_send(Unsubscribe {
                view: old.clone(),
                session: self.id,
            });
            METRICS
                .live_connections
                .with_label_values(&[self.transport.label(), old.kind()])
                .dec();
        }
        self.subscription += 1;
        self.queue.retain(|f| !f.is_event());
        self.queued_bytes = 0;
        self.buffered.clear();
        self.buffered_bytes = 0;
        self.catchup = None;
        self.backlog_until = 0;
        self.phase = Phase::Subscribing;
        METRICS
            .live_connections
            .with_label_values(&[self.transport.label(), start.view.kind()])
            .inc();
        self.view = Some(start.view.clone());

        if start.epoch.as_deref().is_some_and(|e| e != self.epoch()) {
            return self.finish(Status::EpochChanged, ctx);
        }
        let subscription = self.subscription;
        let joined = self.live.hub.send(Subscribe {
            view: start.view.clone(),
            session: self.id,
            subscription,
            recipient: ctx.address().recipient(),
        });
        ctx.wait(joined.into_actor(self).map(move |res, act, ctx| {
            if act.subscription != subscription {
                return;
            }
            match res {
                Ok(Ok(())) => act.begin_catchup(start, ctx),
                _ => act.finish(Status::ServerShutdown, ctx),
            }
        }));
    }

    /// Reads the view's initial state and checks the backlog size, off the actor thread.
    fn begin_catchup(&mut self, start: Start, ctx: &mut Context<Self>) {
        self.phase = Phase::CatchingUp;
        let store = self.live.store.clone();
        let max = self.live.settings.catchup_max;
        let subscription = self.subscription;
        let work = actix_web::rt::task::spawn_blocking(move || initial_state(&store, &start.view, start.after_id, max));
        ctx.spawn(work.into_actor(self).map(move |res, act, ctx| {
            if act.subscription != subscription {
                return;
            }
            match res {
                Ok(Ok(Ok(catchup))) => {
                    act.newest = act.newest.max(catchup.upto);
                    act.backlog_until = if catchup.next_after.is_some() { catchup.upto } else { 0 };
                    act.catchup = Some(catchup);
                    act.pump_catchup(ctx);
                }
                Ok(Ok(Err(status))) => act.finish(status, ctx),
                Ok(Err(e)) => {
                    log::error!("catch-up failed view={} error={e}", act.view_kind());
                    act.finish(Status::BadRequest, ctx)
                }
                Err(_) => act.finish(Status::BadRequest, ctx),
            }
        }));
    }

    /// Queues the next catch-up batch once the previous one is written.
    fn pump_catchup(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::CatchingUp || !self.queue.is_empty() || self.writing {
            return;
        }
        let batch = self.live.settings.catchup_batch as usize;
        let Some(c) = self.catchup.as_mut() else {
            return;
        };
        if !c.ready.is_empty() {
            let n = c.ready.len().min(batch);
            let events: Vec<Event> = c.ready.drain(..n).collect();
            METRICS.live_catchup_batch_size.observe(n as f64);
            METRICS.live_catchup_events.inc_by(n as u64);
            for event in events {
                let advances_id = self.advances_id(&event);
                self.enqueue(Frame::own(event, advances_id), ctx);
            }
            return self.write(ctx);
        }
        if let Some(after) = c.next_after {
            if c.reading {
                return;
            }
            c.reading = true;
            let key = BatchKey {
                filter: c.filter,
                after,
                upto: c.upto,
                limit: batch as i64,
            };
            let live = self.live.clone();
            let subscription = self.subscription;
            let work = actix_web::rt::task::spawn_blocking(move || read_batch(&live, key));
            ctx.spawn(work.into_actor(self).map(move |res, act, ctx| {
                if act.subscription != subscription {
                    return;
                }
                let Some(c) = act.catchup.as_mut() else {
                    return;
                };
                c.reading = false;
                match res {
                    Ok(Ok(events)) => {
                        c.next_after = if events.len() == batch {
                            events.last().map(|e| e.cursor)
                        } else {
                            None
                        };
                        c.ready.extend(events.iter().cloned());
                        act.pump_catchup(ctx);
                    }
                    _ => act.finish(Status::BadRequest, ctx),
                }
            }));
            return;
        }
        self.go_live(ctx);
    }

    fn go_live(&mut self, ctx: &mut Context<Self>) {
        let upto = self.catchup.take().map_or(self.newest, |c| c.upto);
        self.phase = Phase::Live;
        let connected = protocol::status_event(Status::Connected, upto, self.epoch());
        self.sent_cursor = self.sent_cursor.max(upto);
        self.enqueue(Frame::own(connected, true), ctx);
        self.buffered_bytes = 0;
        for batch in std::mem::take(&mut self.buffered) {
            self.accept(batch, ctx);
        }
        self.write(ctx);
    }

    /// Queues a room's batch: whole, unless the catch-up already sent some of its messages.
    fn accept(&mut self, batch: Arc<Batch>, ctx: &mut Context<Self>) {
        self.newest = self.newest.max(batch.newest);
        if batch.oldest_message > self.backlog_until {
            return self.enqueue(Frame::Batch(batch), ctx);
        }
        for event in batch.events.iter() {
            if event.kind == "message" && event.cursor <= self.backlog_until {
                continue;
            }
            let advances_id = self.advances_id(event);
            self.enqueue(
                Frame::Event {
                    event: event.clone(),
                    committed_at: batch.committed_at,
                    advances_id,
                },
                ctx,
            );
        }
    }

    /// Queues an event frame (callers then [`write`](Self::write)); a full queue ends the
    /// connection with the overflow status.
    fn enqueue(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        if self.phase == Phase::Closing {
            return;
        }
        let size = frame.size();
        if self.queued_bytes + size > self.live.settings.queue_bytes {
            return self.finish(Status::Overflow, ctx);
        }
        self.queued_bytes += size;
        self.last_event = Instant::now();
        self.idle_sent = false;
        self.queue.push_back(frame);
    }

    /// Sends `status` as the last event and closes. Queued events are dropped: the client
    /// resumes from the last cursor it applied.
    fn finish(&mut self, status: Status, ctx: &mut Context<Self>) {
        if self.phase == Phase::Closing {
            return;
        }
        self.phase = Phase::Closing;
        self.close_reason = status.close_reason();
        if let Some(reason) = status.reason() {
            if matches!(status, Status::BacklogTooLarge | Status::EpochChanged) {
                METRICS.live_fallbacks.with_label_values(&[reason]).inc();
            }
        }
        if status != Status::ServerShutdown {
            log::info!(
                "live connection closed reason={} transport={} view={} queued_events={} queued_bytes={}",
                status.reason().unwrap_or("normal"),
                self.transport.label(),
                self.view_kind(),
                self.queue.len(),
                self.queued_bytes
            );
        }
        self.queue.retain(|f| !f.is_event());
        self.queued_bytes = 0;
        self.buffered.clear();
        self.catchup = None;
        let cursor = self.newest;
        let status_event = protocol::status_event(status, cursor, self.epoch());
        self.queue.push_back(Frame::own(status_event, false));
        self.queue.push_back(Frame::Close(status.close_code().unwrap_or(1000)));
        self.write(ctx);
        ctx.run_later(CLOSE_GRACE, |act, ctx| {
            act.force_disconnect();
            ctx.stop();
        });
    }

    fn advances_id(&self, event: &Event) -> bool {
        self.view.as_ref().is_none_or(|v| v.advances_id(event))
    }

    fn view_kind(&self) -> &'static str {
        self.view.as_ref().map_or("none", View::kind)
    }

    fn force_disconnect(&self) {
        if let (Some(fd), Some(sink)) = (self.fd, &self.sink) {
            fd.force_disconnect(sink);
        }
    }

    /// Hands queued frames to the response body, a chunk of up to [`WRITE_BATCH`] frames
    /// at a time. When the body is full (the client reads slower than events come), one
    /// chunk waits for room and the rest stay queued.
    fn write(&mut self, ctx: &mut Context<Self>) {
        while !self.writing && !self.queue.is_empty() && self.sink.is_some() {
            let mut chunk = self.encode();
            let Some(sink) = &self.sink else { return };
            match sink.try_send(std::mem::take(&mut chunk.bytes)) {
                Ok(()) => self.written(chunk, ctx),
                Err(TrySendError::Full(bytes)) => {
                    self.writing = true;
                    self.write_started = Instant::now();
                    let sink = sink.clone();
                    let wait = async move { sink.send(bytes).await.is_ok() };
                    ctx.spawn(wait.into_actor(self).map(move |sent, act, ctx| {
                        act.writing = false;
                        if !sent {
                            return ctx.stop();
                        }
                        act.written(chunk, ctx);
                        act.write(ctx);
                    }));
                }
                Err(TrySendError::Closed(_)) => return ctx.stop(),
            }
        }
        self.pump_catchup(ctx);
    }

    /// Accounts for a chunk the response body took.
    fn written(&mut self, chunk: Chunk, ctx: &mut Context<Self>) {
        self.queued_bytes = self.queued_bytes.saturating_sub(chunk.size);
        let transport = self.transport.label();
        for (kind, n) in chunk.kinds {
            METRICS.live_events_sent.with_label_values(&[kind, transport]).inc_by(n);
        }
        let now = Instant::now();
        for (at, n) in chunk.committed {
            let seconds = now.duration_since(at).as_secs_f64();
            for _ in 0..n {
                METRICS.live_delivery_seconds.observe(seconds);
            }
        }
        if chunk.close {
            // The body ends once it has sent the close; the connection with it.
            self.sink = None;
            ctx.stop();
        }
    }

    /// Takes up to [`WRITE_BATCH`] frames off the queue as one chunk of bytes. A room's
    /// batch alone is its shared encoding itself, copied nowhere.
    fn encode(&mut self) -> Chunk {
        let n = self.queue.len().min(WRITE_BATCH);
        let mut chunk = Chunk {
            bytes: Bytes::new(),
            size: 0,
            kinds: Vec::new(),
            committed: Vec::new(),
            close: false,
        };
        let mut buf = BytesMut::new();
        for frame in self.queue.drain(..n) {
            chunk.size += frame.size();
            match frame {
                Frame::Event {
                    event,
                    committed_at,
                    advances_id,
                } => {
                    wire::count_kind(&mut chunk.kinds, event.kind, 1);
                    chunk.committed.extend(committed_at.map(|at| (at, 1)));
                    match self.transport {
                        Transport::Ws => wire::ws_text(&mut buf, event.json.as_bytes()),
                        Transport::Sse => {
                            if advances_id {
                                self.sent_cursor = self.sent_cursor.max(event.cursor);
                            }
                            wire::sse_event(&mut buf, &event, self.sent_cursor);
                        }
                    }
                }
                Frame::Batch(batch) => {
                    for (kind, n) in &batch.kinds {
                        wire::count_kind(&mut chunk.kinds, kind, *n);
                    }
                    chunk
                        .committed
                        .extend(batch.committed_at.map(|at| (at, batch.events.len() as u64)));
                    let shared = match self.transport {
                        Transport::Ws => Some(batch.ws()),
                        Transport::Sse if batch.sse_agrees(self.sent_cursor) => {
                            self.sent_cursor = batch.sse_id_after(self.sent_cursor);
                            Some(batch.sse())
                        }
                        Transport::Sse => {
                            self.sent_cursor = batch.encode_sse(&mut buf, self.sent_cursor);
                            None
                        }
                    };
                    match shared {
                        Some(bytes) if n == 1 => chunk.bytes = bytes.clone(),
                        Some(bytes) => buf.extend_from_slice(bytes),
                        None => {}
                    }
                }
                Frame::Ping => wire::ws_ping(&mut buf),
                Frame::Pong(payload) => wire::ws_pong(&mut buf, &payload),
                Frame::KeepAlive => wire::sse_keepalive(&mut buf),
                Frame::Close(code) => {
                    if self.transport == Transport::Ws {
                        wire::ws_close(&mut buf, code);
                    }
                    chunk.close = true;
                }
            }
        }
        if chunk.bytes.is_empty() {
            chunk.bytes = buf.freeze();
        }
        chunk
    }

    /// Disconnects a client that stopped reading or answering: it could not read a status.
    fn drop_unresponsive(&mut self, why: &str, ctx: &mut Context<Self>) {
        log::info!(
            "live connection timed out why={why} transport={} view={} queued_events={} queued_bytes={}",
            self.transport.label(),
            self.view_kind(),
            self.queue.len(),
            self.queued_bytes
        );
        self.close_reason = "timeout";
        self.force_disconnect();
        ctx.stop();
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        // The connection ended (an SSE client left; a WebSocket one also ends its frames).
        if self.sink.as_ref().is_some_and(Sink::is_closed) {
            return ctx.stop();
        }
        let now = Instant::now();
        if self.phase == Phase::Live
            && !self.idle_sent
            && now.duration_since(self.last_event) >= self.live.settings.idle_after
        {
            let idle = protocol::status_event(Status::Idle, self.newest, self.epoch());
            self.enqueue(Frame::own(idle, false), ctx);
            self.idle_sent = true;
            self.write(ctx);
        }
        if self.writing && now.duration_since(self.write_started) >= self.live.settings.write_timeout {
            return self.drop_unresponsive("stalled", ctx);
        }
        match self.transport {
            Transport::Ws => {
                if now.duration_since(self.last_heard) >= PING_TIMEOUT {
                    return self.drop_unresponsive("no_pong", ctx);
                }
                if now.duration_since(self.last_ping) >= PING_EVERY {
                    self.last_ping = now;
                    self.queue.push_back(Frame::Ping);
                    self.write(ctx);
                }
            }
            Transport::Sse => {
                if now.duration_since(self.last_keepalive) >= KEEPALIVE_EVERY {
                    self.last_keepalive = now;
                    self.queue.push_back(Frame::KeepAlive);
                    self.write(ctx);
                }
            }
        }
    }
}

/// One catch-up batch, from the shared cache or read and serialized (then cached).
fn read_batch(live: &Live, key: BatchKey) -> store::StoreResult<Arc<[Event]>> {
    if let Some(events) = live.catchup_cache.get(&key) {
        return Ok(events);
    }
    let mut conn = live.store.conn()?;
    let rows = store::list_messages(&mut conn, key.filter, Some(key.after), Some(key.upto + 1), key.limit)?;
    let events: Arc<[Event]> = rows.iter().map(protocol::message_event).collect();
    live.catchup_cache.put(key, events.clone());
    Ok(events)
}

/// The view's initial state and the first part of its backlog, or the status that refuses it.
fn initial_state(
    store: &store::Store,
    view: &View,
    after_id: Option<i64>,
    max: i64,
) -> store::StoreResult<Result<Catchup, Status>> {
    let mut conn = store.conn()?;
    let totals = store::totals(&mut conn)?;
    if after_id.is_some_and(|a| a > totals.cursor || a < 0) {
        return Ok(Err(Status::EpochChanged));
    }
    let mut ready = VecDeque::new();
    let mut filter = MessageFilter::default();
    match view {
        View::Home => ready.push_back(protocol::metrics_event(&totals)),
        View::Messages => {}
        View::Channels => {
            let rows = store::channels_changed_after(&mut conn, after_id.unwrap_or(0), max + 1)?;
            if rows.len() as i64 > max {
                return Ok(Err(Status::BacklogTooLarge));
            }
            ready.extend(rows.iter().map(|c| protocol::channel_count_event(Some(c), &c.name)));
        }
        View::Users => {
            let rows = store::users_changed_after(&mut conn, after_id.unwrap_or(0), max + 1)?;
            if rows.len() as i64 > max {
                return Ok(Err(Status::BacklogTooLarge));
            }
            ready.extend(rows.iter().map(protocol::user_count_event));
        }
        View::User(name) => {
            let user = store::user_by_name(&mut conn, name)?;
            ready.push_back(protocol::user_profile_event(user.as_ref(), name));
            filter.user_id = Some(user.map_or(-1, |u| u.id));
        }
        View::Channel(name) => {
            let channel = store::channel_by_name(&mut conn, name)?;
            ready.push_back(protocol::channel_count_event(channel.as_ref(), name));
            filter.channel_id = Some(channel.map_or(-1, |c| c.id));
        }
    }
    let mut next_after = None;
    if let (true, Some(after)) = (view.has_messages(), after_id) {
        if store::backlog_exceeds(&mut conn, filter, after, max)? {
            return Ok(Err(Status::BacklogTooLarge));
        }
        next_after = Some(after);
    }
    Ok(Ok(Catchup {
        ready,
        next_after,
        upto: totals.cursor,
        filter,
        reading: false,
    }))
}

impl Actor for LiveSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        let s = &self.live.settings;
        let tick = (s.idle_after.min(s.write_timeout) / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        ctx.run_interval(tick, |act, ctx| act.tick(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(view) = self.view.take() {
            self.live.hub.do_send(Unsubscribe {
                view: view.clone(),
                session: self.id,
            });
            METRICS
                .live_connections
                .with_label_values(&[self.transport.label(), view.kind()])
                .dec();
        }
        METRICS
            .live_connections_closed
            .with_label_values(&[self.close_reason])
            .inc();
    }
}

impl Handler<Deliver> for LiveSession {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        if msg.subscription != self.subscription {
            return;
        }
        match msg.payload {
            Payload::Overflowed => self.finish(Status::Overflow, ctx),
            Payload::Shutdown => self.finish(Status::ServerShutdown, ctx),
            Payload::Events(batch) => match self.phase {
                Phase::Live => {
                    self.accept(batch, ctx);
                    self.write(ctx);
                }
                Phase::Subscribing | Phase::CatchingUp => {
                    self.buffered_bytes += batch.json_bytes;
                    if self.buffered_bytes > self.live.settings.queue_bytes {
                        return self.finish(Status::Overflow, ctx);
                    }
                    self.buffered.push(batch);
                }
                Phase::Closing => {}
            },
        }
    }
}

/// The frames a WebSocket client sends, decoded.
pub type WsFrames = futures_util::stream::LocalBoxStream<'static, Result<WsFrame, ProtocolError>>;

impl StreamHandler<Result<WsFrame, ProtocolError>> for LiveSession {
    fn handle(&mut self, msg: Result<WsFrame, ProtocolError>, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        match msg {
            Ok(WsFrame::Text(text)) => match serde_json::from_slice::<ClientFrame>(&text) {
                Ok(ClientFrame::Subscribe { view, after_id, epoch }) => match View::parse(&view) {
                    Some(view) => self.subscribe(Start { view, after_id, epoch }, ctx),
                    None => self.finish(Status::BadRequest, ctx),
                },
                Err(_) => self.finish(Status::BadRequest, ctx),
            },
            Ok(WsFrame::Ping(b)) => {
                self.queue.push_back(Frame::Pong(b));
                self.write(ctx);
            }
            Ok(WsFrame::Pong(_)) => {}
            Ok(WsFrame::Close(_)) => {
                self.queue.push_back(Frame::Close(1000));
                self.write(ctx);
            }
            Ok(WsFrame::Binary(_)) | Ok(WsFrame::Continuation(_)) => self.finish(Status::BadRequest, ctx),
            Err(e) => {
                log::info!(
                    "live connection protocol error transport=ws view={} error={e}",
                    self.view_kind()
                );
                self.close_reason = "bad_request";
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Closing {
            ctx.stop();
        }
    }
}

/// Answers a connection that gets no session: one status event, then close.
pub async fn refuse(transport: Transport, sink: Sink, status: Status, cursor: i64, epoch: &str) {
    METRICS
        .live_connections_closed
        .with_label_values(&[status.close_reason()])
        .inc();
    let event = protocol::status_event(status, cursor, epoch);
    let mut buf = BytesMut::new();
    match transport {
        Transport::Ws => {
            wire::ws_text(&mut buf, event.json.as_bytes());
            wire::ws_close(&mut buf, status.close_code().unwrap_or(1000));
        }
        Transport::Sse => wire::sse_event(&mut buf, &event, 0),
    }
    let _ = sink.send(buf.freeze()).await;
}
