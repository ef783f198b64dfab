//! One actor per live connection, WebSocket or SSE. It subscribes to its view's room,
//! catches up from `after_id` in capped batches, then forwards room output through a
//! queue bounded in bytes. A full queue ends the connection with the overflow status;
//! a client that does not read even that is disconnected after [`CLOSE_GRACE`], and one
//! whose socket accepts nothing for `--write-timeout-ms` is disconnected at once.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{CloseCode, CloseReason};
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::mpsc;

use super::hub::{Subscribe, Unsubscribe};
use super::protocol::{self, ClientFrame, Event, Status, View};
use super::{BatchKey, ConnFd, Live, Liveness, Slot};
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
    Events(Arc<[Event]>),
    Overflowed,
    Shutdown,
}

/// What a room sends a session.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver {
    pub subscription: u64,
    pub payload: Payload,
    pub committed_at: Option<Instant>,
}

impl Deliver {
    pub fn overflowed(subscription: u64) -> Self {
        Deliver {
            subscription,
            payload: Payload::Overflowed,
            committed_at: None,
        }
    }
    pub fn shutdown(subscription: u64) -> Self {
        Deliver {
            subscription,
            payload: Payload::Shutdown,
            committed_at: None,
        }
    }
}

pub enum Sink {
    Ws(actix_ws::Session),
    Sse(mpsc::Sender<Bytes>),
}

impl Sink {
    fn transport(&self) -> &'static str {
        match self {
            Sink::Ws(_) => "ws",
            Sink::Sse(_) => "sse",
        }
    }
}

enum Frame {
    Event {
        event: Event,
        committed_at: Option<Instant>,
        advances_id: bool,
    },
    Ping,
    Pong(Bytes),
    KeepAlive,
    Close(u16),
}

impl Frame {
    fn size(&self) -> usize {
        match self {
            Frame::Event { event, .. } => event.json.len(),
            _ => 0,
        }
    }
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
    transport: &'static str,
    sink: Option<Sink>,
    liveness: Liveness,
    fd: Option<ConnFd>,
    gone: Option<tokio::sync::oneshot::Receiver<()>>,
    _slot: Slot,

    view: Option<View>,
    subscription: u64,
    phase: Phase,
    catchup: Option<Catchup>,
    buffered: Vec<Deliver>,
    buffered_bytes: usize,
    /// Message events at or below this were sent by the catch-up.
    backlog_until: i64,
    /// The highest cursor written on this stream (SSE `id:`).
    sent_cursor: i64,
    newest: i64,

    queue: VecDeque<Frame>,
    queued_bytes: usize,
    writing: bool,
    /// When the write in flight was handed to the socket.
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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        live: Arc<Live>,
        sink: Sink,
        liveness: Liveness,
        gone: tokio::sync::oneshot::Receiver<()>,
        fd: Option<ConnFd>,
        slot: Slot,
    ) -> Self {
        let now = Instant::now();
        let transport = sink.transport();
        if let (Some(fd), n @ 1..) = (fd, live.settings.send_buffer_bytes) {
            fd.set_send_buffer(n);
        }
        METRICS.live_connections_opened.with_label_values(&[transport]).inc();
        LiveSession {
            id: live.next_id(),
            live,
            transport,
            sink: Some(sink),
            liveness,
            fd,
            gone: Some(gone),
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

    pub fn start_with(self, start: Start, ws: Option<actix_ws::MessageStream>) -> Addr<Self> {
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
                .with_label_values(&[self.transport, old.kind()])
                .dec();
        }
        self.subscription += 1;
        self.queue.retain(|f| !matches!(f, Frame::Event { .. }));
        self.queued_bytes = 0;
        self.buffered.clear();
        self.buffered_bytes = 0;
        self.catchup = None;
        self.backlog_until = 0;
        self.phase = Phase::Subscribing;
        METRICS
            .live_connections
            .with_label_values(&[self.transport, start.view.kind()])
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
                let advances = self.advances_id(&event);
                self.enqueue(event, None, advances, ctx);
            }
            return;
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
        self.enqueue(connected, None, true, ctx);
        self.buffered_bytes = 0;
        for deliver in std::mem::take(&mut self.buffered) {
            self.accept(deliver, ctx);
        }
    }

    fn accept(&mut self, deliver: Deliver, ctx: &mut Context<Self>) {
        let Payload::Events(events) = deliver.payload else {
            return;
        };
        for event in events.iter() {
            self.newest = self.newest.max(event.cursor);
            if event.kind == "message" && event.cursor <= self.backlog_until {
                continue;
            }
            let advances = self.advances_id(event);
            self.enqueue(event.clone(), deliver.committed_at, advances, ctx);
        }
    }

    fn enqueue(&mut self, event: Event, committed_at: Option<Instant>, advances_id: bool, ctx: &mut Context<Self>) {
        if self.phase == Phase::Closing {
            return;
        }
        let size = event.json.len();
        if self.queued_bytes + size > self.live.settings.queue_bytes {
            return self.finish(Status::Overflow, ctx);
        }
        self.queued_bytes += size;
        self.last_event = Instant::now();
        self.idle_sent = false;
        self.queue.push_back(Frame::Event {
            event,
            committed_at,
            advances_id,
        });
        self.write(ctx);
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
                self.transport,
                self.view_kind(),
                self.queue.len(),
                self.queued_bytes
            );
        }
        self.queue.retain(|f| !matches!(f, Frame::Event { .. }));
        self.queued_bytes = 0;
        self.buffered.clear();
        self.catchup = None;
        let cursor = self.newest;
        self.queue.push_back(Frame::Event {
            event: protocol::status_event(status, cursor, self.epoch()),
            committed_at: None,
            advances_id: false,
        });
        self.queue.push_back(Frame::Close(status.close_code().unwrap_or(1000)));
        self.write(ctx);
        ctx.run_later(CLOSE_GRACE, |act, ctx| {
            act.liveness.force_disconnect(act.fd);
            ctx.stop();
        });
    }

    /// Whether an event moves the SSE `id:` on. In a view of messages only message events
    /// do (a count can be newer than messages not yet sent); in a count view counts do.
    fn advances_id(&self, event: &Event) -> bool {
        event.kind == "message" || !self.view.as_ref().is_some_and(View::has_messages)
    }

    fn view_kind(&self) -> &'static str {
        self.view.as_ref().map_or("none", View::kind)
    }

    /// Hands queued frames to the socket, one write in flight at a time.
    fn write(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.queue.is_empty() {
            return;
        }
        let Some(sink) = self.sink.take() else { return };
        self.writing = true;
        self.write_started = Instant::now();
        let n = self.queue.len().min(WRITE_BATCH);
        let frames: Vec<Frame> = self.queue.drain(..n).collect();
        let bytes: usize = frames.iter().map(Frame::size).sum();
        // Per event type, how many were sent; and each event's commit time.
        let mut kinds: Vec<(&'static str, u64)> = Vec::new();
        let mut committed: Vec<Instant> = Vec::new();
        for f in &frames {
            if let Frame::Event {
                event, committed_at, ..
            } = f
            {
                match kinds.iter_mut().find(|(k, _)| *k == event.kind) {
                    Some((_, n)) => *n += 1,
                    None => kinds.push((event.kind, 1)),
                }
                committed.extend(*committed_at);
            }
        }
        let fut = match sink {
            Sink::Ws(session) => write_ws(session, frames).boxed_local(),
            Sink::Sse(tx) => {
                let chunk = self.sse_chunk(frames);
                write_sse(tx, chunk).boxed_local()
            }
        };
        let transport = self.transport;
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            act.writing = false;
            act.queued_bytes = act.queued_bytes.saturating_sub(bytes);
            let now = Instant::now();
            for (kind, n) in kinds {
                METRICS.live_events_sent.with_label_values(&[kind, transport]).inc_by(n);
            }
            for at in committed {
                METRICS
                    .live_delivery_seconds
                    .observe(now.duration_since(at).as_secs_f64());
            }
            match res {
                Ok(Some(sink)) => {
                    act.sink = Some(sink);
                    act.write(ctx);
                    act.pump_catchup(ctx);
                }
                // Closed on purpose (the close frame went out) or by the client.
                Ok(None) | Err(()) => ctx.stop(),
            }
        }));
    }

    fn sse_chunk(&mut self, frames: Vec<Frame>) -> (Bytes, bool) {
        let mut buf = BytesMut::new();
        let mut close = false;
        for f in frames {
            match f {
                Frame::Event { event, advances_id, .. } => {
                    buf.put_slice(b"event: ");
                    buf.put_slice(event.kind.as_bytes());
                    buf.put_slice(b"\ndata: ");
                    buf.put_slice(event.json.as_bytes());
                    if advances_id && event.cursor > 0 {
                        self.sent_cursor = self.sent_cursor.max(event.cursor);
                    }
                    if self.sent_cursor > 0 {
                        buf.put_slice(format!("\nid: {}", self.sent_cursor).as_bytes());
                    }
                    buf.put_slice(b"\n\n");
                }
                Frame::KeepAlive => buf.put_slice(b": keep-alive\n\n"),
                Frame::Close(_) => close = true,
                Frame::Ping | Frame::Pong(_) => {}
            }
        }
        (buf.freeze(), close)
    }

    /// Disconnects a client that stopped reading or answering: it could not read a status.
    fn drop_unresponsive(&mut self, why: &str, ctx: &mut Context<Self>) {
        log::info!(
            "live connection timed out why={why} transport={} view={} queued_events={} queued_bytes={}",
            self.transport,
            self.view_kind(),
            self.queue.len(),
            self.queued_bytes
        );
        self.close_reason = "timeout";
        self.liveness.force_disconnect(self.fd);
        ctx.stop();
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if self.phase == Phase::Live
            && !self.idle_sent
            && now.duration_since(self.last_event) >= self.live.settings.idle_after
        {
            let idle = protocol::status_event(Status::Idle, self.newest, self.epoch());
            self.enqueue(idle, None, false, ctx);
            self.idle_sent = true;
        }
        if self.writing && now.duration_since(self.write_started) >= self.live.settings.write_timeout {
            return self.drop_unresponsive("stalled", ctx);
        }
        match self.transport {
            "ws" => {
                if now.duration_since(self.last_heard) >= PING_TIMEOUT {
                    return self.drop_unresponsive("no_pong", ctx);
                }
                if now.duration_since(self.last_ping) >= PING_EVERY {
                    self.last_ping = now;
                    self.queue.push_back(Frame::Ping);
                    self.write(ctx);
                }
            }
            _ => {
                if now.duration_since(self.last_keepalive) >= KEEPALIVE_EVERY {
                    self.last_keepalive = now;
                    self.queue.push_back(Frame::KeepAlive);
                    self.write(ctx);
                }
            }
        }
    }
}

async fn write_ws(mut session: actix_ws::Session, frames: Vec<Frame>) -> Result<Option<Sink>, ()> {
    for f in frames {
        match f {
            Frame::Event { event, .. } => session.text(event.json).await.map_err(|_| ())?,
            Frame::Ping => session.ping(b"").await.map_err(|_| ())?,
            Frame::Pong(b) => session.pong(&b).await.map_err(|_| ())?,
            Frame::KeepAlive => {}
            Frame::Close(code) => {
                let _ = session
                    .close(Some(CloseReason {
                        code: CloseCode::Other(code),
                        description: None,
                    }))
                    .await;
                return Ok(None);
            }
        }
    }
    Ok(Some(Sink::Ws(session)))
}

async fn write_sse(tx: mpsc::Sender<Bytes>, (chunk, close): (Bytes, bool)) -> Result<Option<Sink>, ()> {
    if !chunk.is_empty() {
        tx.send(chunk).await.map_err(|_| ())?;
    }
    Ok(if close { None } else { Some(Sink::Sse(tx)) })
}

use futures_util::FutureExt;

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
        if let Some(gone) = self.gone.take() {
            ctx.spawn(
                async move {
                    let _ = gone.await;
                }
                .into_actor(self)
                .map(|_, _, ctx| ctx.stop()),
            );
        }
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
                .with_label_values(&[self.transport, view.kind()])
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
            Payload::Events(ref events) => match self.phase {
                Phase::Live => self.accept(msg, ctx),
                Phase::Subscribing | Phase::CatchingUp => {
                    self.buffered_bytes += events.iter().map(|e| e.json.len()).sum::<usize>();
                    if self.buffered_bytes > self.live.settings.queue_bytes {
                        return self.finish(Status::Overflow, ctx);
                    }
                    self.buffered.push(msg);
                }
                Phase::Closing => {}
            },
        }
    }
}

impl StreamHandler<Result<actix_ws::Message, actix_ws::ProtocolError>> for LiveSession {
    fn handle(&mut self, msg: Result<actix_ws::Message, actix_ws::ProtocolError>, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        match msg {
            Ok(actix_ws::Message::Text(text)) => match serde_json::from_str::<ClientFrame>(&text) {
                Ok(ClientFrame::Subscribe { view, after_id, epoch }) => match View::parse(&view) {
                    Some(view) => self.subscribe(Start { view, after_id, epoch }, ctx),
                    None => self.finish(Status::BadRequest, ctx),
                },
                Err(_) => self.finish(Status::BadRequest, ctx),
            },
            Ok(actix_ws::Message::Ping(b)) => {
                self.queue.push_back(Frame::Pong(b));
                self.write(ctx);
            }
            Ok(actix_ws::Message::Pong(_)) | Ok(actix_ws::Message::Nop) => {}
            Ok(actix_ws::Message::Close(_)) => {
                self.queue.push_back(Frame::Close(1000));
                self.write(ctx);
            }
            Ok(actix_ws::Message::Binary(_)) | Ok(actix_ws::Message::Continuation(_)) => {
                self.finish(Status::BadRequest, ctx)
            }
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
pub async fn refuse(sink: Sink, status: Status, cursor: i64, epoch: &str) {
    METRICS
        .live_connections_closed
        .with_label_values(&[status.close_reason()])
        .inc();
    let event = protocol::status_event(status, cursor, epoch);
    let frames = vec![
        Frame::Event {
            event,
            committed_at: None,
            advances_id: false,
        },
        Frame::Close(status.close_code().unwrap_or(1000)),
    ];
    match sink {
        Sink::Ws(session) => {
            let _ = write_ws(session, frames).await;
        }
        Sink::Sse(tx) => {
            let mut buf = BytesMut::new();
            for f in frames {
                if let Frame::Event { event, .. } = f {
                    buf.put_slice(format!("event: {}\ndata: {}\n\n", event.kind, &*event.json).as_bytes());
                }
            }
            let _ = tx.send(buf.freeze()).await;
        }
    }
}
