//! One actor per live connection, WebSocket or SSE. It subscribes to its view's room,
//! catches up from `after_id` (see [`super::catchup`]), then forwards room output through
//! its [`Outbox`]. A full queue ends the connection with the overflow status; a client that
//! does not read even that is disconnected after [`CLOSE_GRACE`], and one whose socket
//! accepts nothing for `--write-timeout-ms` is disconnected at once.
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{Frame as WsFrame, ProtocolError};
use bytes::BytesMut;

use super::catchup::Catchup;
use super::messages::{Deliver, Leave, Payload, Subscribe};
use super::outbox::{ConnFd, Outbox, Sent, Sink};
use super::protocol::{self, ClientFrame, Event, Status, View};
use super::transport::{Control, Heartbeat, Transport};
use super::wire::Batch;
use super::{Live, Slot};
use crate::metrics::METRICS;
use crate::store::Cursor;

/// How long a closing connection may take to accept its last status before its socket is shut.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long the close frame after an unreadable client frame gets before the socket is shut.
pub const BROKEN_FRAME_GRACE: Duration = Duration::from_millis(200);
/// Room deliveries a session's mailbox holds; a room that finds it full drops the session.
pub const MAILBOX: usize = 256;
/// The most often one connection's typing frames are passed on; more are ignored (the
/// room merges what it gets, this bounds what a client can make the server do).
pub const TYPING_EVERY: Duration = Duration::from_millis(250);
/// How long a typing notice shows after the last frame.
pub const TYPING_SHOWS_FOR: Duration = Duration::from_secs(5);

#[derive(PartialEq, Eq, Clone, Copy)]
enum Phase {
    Subscribing,
    CatchingUp,
    Live,
    Closing,
}

/// How a session is asked to start.
pub struct Start {
    pub view: View,
    pub after_id: Option<Cursor>,
    pub epoch: Option<String>,
}

pub struct LiveSession {
    /// Names the session in its room.
    id: u64,
    live: Arc<Live>,
    outbox: Outbox,
    /// Holds a place under `--max-connections` for as long as the session lives.
    _slot: Slot,

    view: Option<View>,
    /// The room the session is in, to leave it.
    room: Option<Recipient<Leave>>,
    /// Counts subscriptions, so deliveries and reads meant for an earlier view are ignored.
    subscription: u64,
    phase: Phase,
    catchup: Option<Catchup>,
    /// Room batches that arrived during catch-up, sent once it is done.
    buffered: Vec<Arc<Batch>>,
    buffered_bytes: usize,
    /// Message events at or below this are not sent live: the initial state's cursor.
    backlog_until: Cursor,
    /// The newest cursor seen, for statuses.
    newest: Cursor,
    /// The label `chatpulse_live_connections_closed_total` counts this session under.
    close_reason: &'static str,

    last_event: Instant,
    idle_sent: bool,
    /// When the client last sent a frame (WebSocket).
    last_heard: Instant,
    /// The connection's signed-in person (a user token, or the session cookie).
    user: Option<String>,
    /// When a typing frame was last passed on.
    last_typing: Option<Instant>,
}

impl LiveSession {
    pub fn new(
        live: Arc<Live>,
        transport: Box<dyn Transport>,
        sink: Sink,
        fd: Option<ConnFd>,
        slot: Slot,
        user: Option<String>,
    ) -> Self {
        let now = Instant::now();
        if let (Some(fd), n @ 1..) = (fd, live.settings.send_buffer_bytes) {
            fd.set_send_buffer(n);
        }
        METRICS
            .live_connections_opened
            .with_label_values(&[transport.label()])
            .inc();
        let outbox = Outbox::new(transport, sink, fd, live.settings.queue_bytes);
        LiveSession {
            id: live.next_id(),
            live,
            outbox,
            _slot: slot,
            view: None,
            room: None,
            subscription: 0,
            phase: Phase::Subscribing,
            catchup: None,
            buffered: Vec::new(),
            buffered_bytes: 0,
            backlog_until: Cursor::default(),
            newest: Cursor::default(),
            close_reason: "normal",
            last_event: now,
            idle_sent: false,
            last_heard: now,
            user,
            last_typing: None,
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

    fn view_kind(&self) -> &'static str {
        self.view.as_ref().map_or("none", View::kind)
    }

    /// Leaves the current view's room, if any.
    fn leave(&mut self) {
        if let Some(room) = self.room.take() {
            room.do_send(Leave { session: self.id });
        }
        if let Some(old) = self.view.take() {
            METRICS
                .live_connections
                .with_label_values(&[self.outbox.label(), old.kind()])
                .dec();
        }
    }

    fn subscribe(&mut self, start: Start, ctx: &mut Context<Self>) {
        if self.phase == Phase::Closing {
            return;
        }
        self.leave();
        self.subscription += 1;
        self.outbox.drop_events();
        self.buffered.clear();
        self.buffered_bytes = 0;
        self.catchup = None;
        self.backlog_until = Cursor::default();
        self.phase = Phase::Subscribing;
        METRICS
            .live_connections
            .with_label_values(&[self.outbox.label(), start.view.kind()])
            .inc();
        self.view = Some(start.view.clone());
        // `workspace` and `me` are the connection's person's (`me` is nobody's without one).
        let Some(view) = start.view.clone().for_user(self.user.as_deref()) else {
            return self.finish(Status::BadRequest, ctx);
        };
        let start = Start { view, ..start };

        if start.epoch.as_deref().is_some_and(|e| e != self.epoch()) {
            return self.finish(Status::EpochChanged, ctx);
        }
        let subscription = self.subscription;
        let joined = self.live.hub.send(Subscribe {
            view: start.view.clone(),
            session: self.id,
            subscription,
            recipient: ctx.address().recipient(),
            user: self.user.clone(),
        });
        ctx.wait(joined.into_actor(self).map(move |res, act, ctx| {
            if act.subscription != subscription {
                return;
            }
            match res {
                Ok(Ok(room)) => {
                    act.room = Some(room);
                    act.begin_catchup(start, ctx)
                }
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
        let user = self.user.clone();
        let work = actix_web::rt::task::spawn_blocking(move || {
            Catchup::begin(&store, &start.view, start.after_id, max, user.as_deref())
        });
        ctx.spawn(work.into_actor(self).map(move |res, act, ctx| {
            if act.subscription != subscription {
                return;
            }
            match res {
                Ok(Ok(Ok(catchup))) => {
                    act.newest = act.newest.max(catchup.upto);
                    // Whatever came to or before the initial state is not live: the
                    // catch-up sends it, or the client has it or did not ask for it. A
                    // room can still forward such a commit after the join (this node
                    // routed it late), so it is dropped here by its cursor.
                    act.backlog_until = catchup.upto;
                    act.catchup = Some(catchup);
                    act.pump_catchup(ctx);
                }
                Ok(Ok(Err(status))) => act.finish(status, ctx),
                Ok(Err(e)) => act.failed(&e, ctx),
                Err(e) => act.failed(&e, ctx),
            }
        }));
    }

    /// A store failure during catch-up: the server's fault, not the client's.
    fn failed(&mut self, e: &dyn std::fmt::Display, ctx: &mut Context<Self>) {
        log::error!("catch-up failed view={} error={e}", self.view_kind());
        self.finish(Status::ServerError, ctx)
    }

    /// Queues the next catch-up batch once the previous one is written, and goes live
    /// when there is nothing left.
    fn pump_catchup(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::CatchingUp || !self.outbox.is_idle() {
            return;
        }
        let limit = self.live.settings.catchup_batch;
        let Some(c) = self.catchup.as_mut() else {
            return;
        };
        if let Some(events) = c.take_ready(limit as usize) {
            METRICS.live_catchup_batch_size.observe(events.len() as f64);
            METRICS.live_catchup_events.inc_by(events.len() as u64);
            for event in events {
                self.enqueue(event, None, ctx);
            }
            return self.write(ctx);
        }
        if c.is_done() {
            return self.go_live(ctx);
        }
        let Some(key) = c.next_read(limit) else {
            return;
        };
        let live = self.live.clone();
        let subscription = self.subscription;
        let work = actix_web::rt::task::spawn_blocking(move || live.catchup_cache.read(&live.store, key));
        ctx.spawn(work.into_actor(self).map(move |res, act, ctx| {
            if act.subscription != subscription {
                return;
            }
            match res {
                Ok(Ok(events)) => {
                    if let Some(c) = act.catchup.as_mut() {
                        c.read_done(&events, limit);
                    }
                    act.pump_catchup(ctx);
                }
                Ok(Err(e)) => act.failed(&e, ctx),
                Err(e) => act.failed(&e, ctx),
            }
        }));
    }

    fn go_live(&mut self, ctx: &mut Context<Self>) {
        let upto = self.catchup.take().map_or(self.newest, |c| c.upto);
        self.phase = Phase::Live;
        let connected = protocol::status_event(Status::Connected, upto, self.epoch());
        self.enqueue(connected, None, ctx);
        self.buffered_bytes = 0;
        for batch in std::mem::take(&mut self.buffered) {
            self.accept(batch, ctx);
        }
        self.write(ctx);
    }

    /// Queues a room's batch: whole, unless the catch-up already sent some of its messages.
    fn accept(&mut self, batch: Arc<Batch>, ctx: &mut Context<Self>) {
        // Typing is the first thing dropped: a connection that is behind does not get it
        // (and that is no overflow).
        if batch.is_typing() && self.outbox.is_behind() {
            METRICS.live_typing_dropped.inc();
            return;
        }
        self.newest = self.newest.max(batch.newest);
        if batch.oldest_message > self.backlog_until {
            let queued = self.outbox.batch(batch);
            return self.queued(queued, ctx);
        }
        for event in batch.events.iter() {
            if event.kind.is_logged() && event.cursor <= self.backlog_until {
                continue;
            }
            self.enqueue(event.clone(), batch.committed_at, ctx);
        }
    }

    /// Queues an event (callers then [`write`](Self::write)).
    fn enqueue(&mut self, event: Event, committed_at: Option<Instant>, ctx: &mut Context<Self>) {
        let advances_id = self.view.as_ref().is_none_or(|v| v.advances_id(&event));
        let queued = self.outbox.event(event, committed_at, advances_id);
        self.queued(queued, ctx);
    }

    /// After queueing: a full queue ends the connection with the overflow status.
    fn queued(&mut self, queued: Result<(), super::outbox::Full>, ctx: &mut Context<Self>) {
        match queued {
            Ok(()) => {
                self.last_event = Instant::now();
                self.idle_sent = false;
            }
            Err(_) => self.finish(Status::Overflow, ctx),
        }
    }

    /// Sends `status` as the last event and closes. Queued events are dropped: the client
    /// resumes from the last cursor it applied.
    fn finish(&mut self, status: Status, ctx: &mut Context<Self>) {
        if self.phase == Phase::Closing {
            return;
        }
        self.phase = Phase::Closing;
        self.close_reason = status.close_reason();
        if let (Status::BacklogTooLarge | Status::EpochChanged | Status::Pruned, Some(reason)) =
            (status, status.reason())
        {
            METRICS.live_fallbacks.with_label_values(&[reason]).inc();
        }
        if status != Status::ServerShutdown {
            log::info!(
                "live connection closed reason={} transport={} view={} queued_events={} queued_bytes={}",
                status.reason().unwrap_or("normal"),
                self.outbox.label(),
                self.view_kind(),
                self.outbox.len(),
                self.outbox.queued_bytes()
            );
        }
        self.outbox.drop_events();
        self.buffered.clear();
        self.catchup = None;
        self.outbox
            .last_status(protocol::status_event(status, self.newest, self.epoch()));
        self.outbox.control(close_of(status));
        self.write(ctx);
        ctx.run_later(CLOSE_GRACE, |act, ctx| {
            act.outbox.force_disconnect();
            ctx.stop();
        });
    }

    /// Hands queued frames to the response body until it is full; then one chunk waits
    /// for room and the rest stay queued.
    fn write(&mut self, ctx: &mut Context<Self>) {
        while let Some(sent) = self.outbox.send_next() {
            match sent {
                Sent::Taken => {}
                Sent::Ended => return ctx.stop(),
                Sent::Waiting(wait) => {
                    ctx.spawn(
                        wait.into_actor(self)
                            .map(|sent, act, ctx| match act.outbox.waited(sent) {
                                Sent::Ended => ctx.stop(),
                                _ => act.write(ctx),
                            }),
                    );
                    return;
                }
            }
        }
        self.pump_catchup(ctx);
    }

    /// Disconnects a client that stopped reading or answering: it could not read a status.
    fn drop_unresponsive(&mut self, why: &str, ctx: &mut Context<Self>) {
        log::info!(
            "live connection timed out why={why} transport={} view={} queued_events={} queued_bytes={}",
            self.outbox.label(),
            self.view_kind(),
            self.outbox.len(),
            self.outbox.queued_bytes()
        );
        self.close_reason = "timeout";
        self.outbox.force_disconnect();
        ctx.stop();
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        // The connection ended (an SSE client left; a WebSocket one also ends its frames).
        if self.outbox.is_closed() {
            return ctx.stop();
        }
        let now = Instant::now();
        if self.phase == Phase::Live
            && !self.idle_sent
            && now.duration_since(self.last_event) >= self.live.settings.idle_after
        {
            let idle = protocol::status_event(Status::Idle, self.newest, self.epoch());
            self.enqueue(idle, None, ctx);
            self.idle_sent = true;
            self.write(ctx);
        }
        if self.outbox.stalled(now, self.live.settings.write_timeout) {
            return self.drop_unresponsive("stalled", ctx);
        }
        match self.outbox.transport().heartbeat(now, self.last_heard) {
            Heartbeat::Quiet => {}
            Heartbeat::Due => {
                self.outbox.control(Control::Heartbeat);
                self.write(ctx);
            }
            Heartbeat::TimedOut => self.drop_unresponsive("no_pong", ctx),
        }
    }
}

/// The close frame that follows `status`.
fn close_of(status: Status) -> Control {
    Control::Close(status.close_code().unwrap_or(1000), status.reason().unwrap_or("normal"))
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
        self.leave();
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
            Payload::Overflowed => {
                // The room has already dropped this session.
                self.room = None;
                self.finish(Status::Overflow, ctx)
            }
            Payload::Shutdown => self.finish(Status::ServerShutdown, ctx),
            Payload::Revoked => {
                self.room = None;
                self.finish(Status::MembershipChanged, ctx)
            }
            Payload::Events(batch) => match self.phase {
                Phase::Live => {
                    self.accept(batch, ctx);
                    self.write(ctx);
                }
                // Typing is not worth buffering: it will be stale when the catch-up ends.
                Phase::Subscribing | Phase::CatchingUp if batch.is_typing() => {}
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
                Ok(ClientFrame::Typing { stream_id }) => self.typing(stream_id),
                Err(_) => self.finish(Status::BadRequest, ctx),
            },
            Ok(WsFrame::Ping(b)) => {
                self.outbox.control(Control::Pong(b));
                self.write(ctx);
            }
            Ok(WsFrame::Pong(_)) => {}
            Ok(WsFrame::Close(_)) => {
                self.outbox.control(Control::Close(1000, "normal"));
                self.write(ctx);
            }
            Ok(WsFrame::Binary(_)) | Ok(WsFrame::Continuation(_)) => self.finish(Status::BadRequest, ctx),
            // The client went away mid-frame (a reset): gone, not at fault.
            Err(ProtocolError::Io(_)) => ctx.stop(),
            Err(e) => self.broken_frame(e, ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Closing {
            ctx.stop();
        }
    }
}

impl LiveSession {
    /// The connection's person types in `stream`: passed on (to this node's room and the
    /// other nodes) only from a signed-in person whose view is that stream, so who may see
    /// the stream was checked when they subscribed; at most every [`TYPING_EVERY`].
    fn typing(&mut self, stream: crate::store::ChannelId) {
        let (Some(user), Some(View::Stream(viewing))) = (&self.user, &self.view) else {
            return;
        };
        let now = Instant::now();
        if *viewing != stream
            || self.phase == Phase::Closing
            || self.last_typing.is_some_and(|t| now.duration_since(t) < TYPING_EVERY)
        {
            return;
        }
        self.last_typing = Some(now);
        let typing = super::messages::Typing {
            stream,
            user: user.clone(),
            expires_at: crate::time::now_ms() + TYPING_SHOWS_FOR.as_millis() as i64,
        };
        if let Some(bus) = &self.live.bus {
            bus.typing(typing.clone());
        }
        self.live.hub.do_send(typing);
    }

    /// A client frame that cannot be read: too large for the web layer's `WS_MAX_FRAME` (1009), or not
    /// WebSocket (1002). The close frame goes out at once and the socket is shut right
    /// after, so the connection does not linger waiting for the rest of the frame.
    fn broken_frame(&mut self, e: ProtocolError, ctx: &mut Context<Self>) {
        let (code, reason) = match e {
            ProtocolError::Overflow => (1009, "message_too_big"),
            _ => (1002, "protocol_error"),
        };
        log::info!(
            "live connection protocol error transport=ws view={} error={e}",
            self.view_kind()
        );
        self.close_reason = "bad_request";
        self.phase = Phase::Closing;
        self.outbox.drop_events();
        self.outbox.control(Control::Close(code, reason));
        self.write(ctx);
        ctx.run_later(BROKEN_FRAME_GRACE, |act, ctx| {
            act.outbox.force_disconnect();
            ctx.stop();
        });
    }
}

/// Answers a connection that gets no session: one status event, then close.
pub async fn refuse(mut transport: Box<dyn Transport>, sink: Sink, status: Status, cursor: Cursor, epoch: &str) {
    METRICS
        .live_connections_closed
        .with_label_values(&[status.close_reason()])
        .inc();
    let event = protocol::status_event(status, cursor, epoch);
    let mut buf = BytesMut::new();
    transport.event(&mut buf, &event, false);
    transport.control(&mut buf, &close_of(status));
    let _ = sink.send(buf.freeze()).await;
}
