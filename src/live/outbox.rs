//! A session's way out: a queue of frames bounded in bytes of events, encoded through the
//! session's transport and handed to the response body a chunk at a time. A room's batch
//! goes out as the room's shared bytes; only a session's own frames are encoded here.
use std::collections::VecDeque;
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc::error::TrySendError;

use super::protocol::{Event, Kind};
use super::transport::{Control, Transport};
use super::wire::{self, Batch};
use crate::metrics::METRICS;

/// Encoded chunks buffered between a session and its response body.
pub const BODY_CHUNKS: usize = 4;
/// Frames handed to the body per chunk.
const WRITE_BATCH: usize = 256;

/// What a session writes its encoded frames to: the response body's channel. The body is
/// dropped when the connection ends, which closes the channel.
pub type Sink = tokio::sync::mpsc::Sender<Bytes>;

/// A live response body: the chunks its session writes, as they come.
pub struct LiveBody {
    chunks: tokio::sync::mpsc::Receiver<Bytes>,
}

/// A live response body and the sink that feeds it.
pub fn live_body() -> (Sink, LiveBody) {
    let (tx, rx) = tokio::sync::mpsc::channel(BODY_CHUNKS);
    (tx, LiveBody { chunks: rx })
}

impl MessageBody for LiveBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.get_mut().chunks.poll_recv(cx).map(|chunk| chunk.map(Ok))
    }
}

/// The socket of the HTTP connection a live response goes out on, recorded at connect
/// time (see `HttpServer::on_connect` in `web`).
#[derive(Clone, Copy, Debug)]
pub struct ConnFd(pub RawFd);

impl ConnFd {
    /// Sets the socket's kernel send buffer (SO_SNDBUF). Called while the request that owns
    /// the connection is being handled, so the fd is this connection's.
    pub fn set_send_buffer(self, bytes: usize) {
        use std::os::fd::BorrowedFd;
        // SAFETY: the fd is open for the duration of this call (see above).
        let fd = unsafe { BorrowedFd::borrow_raw(self.0) };
        if let Err(e) = socket2::SockRef::from(&fd).set_send_buffer_size(bytes) {
            log::warn!("cannot set send buffer bytes={bytes} error={e}");
        }
    }

    /// Whether the client closed its side: a read would find the end of the stream. An SSE
    /// client sends nothing after its request, so without this its leaving is noticed only
    /// when a write fails. Non-blocking (`MSG_PEEK` on the non-blocking socket), and checked
    /// only while the body is alive, as in [`ConnFd::force_disconnect`].
    fn peer_closed(self, sink: &Sink) -> bool {
        use std::os::fd::BorrowedFd;
        if sink.is_closed() {
            return false;
        }
        // SAFETY: the fd is open while the body is (see `force_disconnect`).
        let fd = unsafe { BorrowedFd::borrow_raw(self.0) };
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        matches!(socket2::SockRef::from(&fd).peek(&mut byte), Ok(0))
    }

    /// Shuts down the socket under a live response that is still being sent, so a client
    /// that stopped reading is disconnected instead of holding the connection open forever:
    /// actix-web has no write timeout. Only while the response body is alive (its `sink`
    /// open) is the fd certainly still this connection's; the body is dropped, and this
    /// check runs, on the same worker thread.
    fn force_disconnect(self, sink: &Sink) {
        use std::os::fd::FromRawFd;
        if !sink.is_closed() {
            // SAFETY: the fd is open (see above); ManuallyDrop keeps it from being closed here.
            let stream = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(self.0) });
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

enum Frame {
    /// An event of the session's own (catch-up, status, or part of a room's batch).
    Event {
        event: Event,
        /// When the commit behind it returned, for the delivery histogram.
        committed_at: Option<Instant>,
        advances_id: bool,
    },
    /// A room's batch, written as the room's shared encoding where the transport can.
    Batch(Arc<Batch>),
    Control(Control),
}

impl Frame {
    /// What the queue bound counts: the events' JSON bytes.
    fn size(&self) -> usize {
        match self {
            Frame::Event { event, .. } => event.json.len(),
            Frame::Batch(batch) => batch.json_bytes,
            Frame::Control(_) => 0,
        }
    }
}

/// A chunk handed to the body, and what to account for once it is taken.
#[derive(Default)]
struct Chunk {
    /// The events' JSON bytes, counted by the queue.
    size: usize,
    /// Per event type, how many.
    kinds: Vec<(Kind, u64)>,
    /// Commit times, each with how many events it covers.
    committed: Vec<(Instant, u64)>,
    /// Whether it ends with the close frame.
    close: bool,
}

/// The queue is full: the session must end with the overflow status.
#[derive(Debug)]
pub struct Full;

/// What [`Outbox::send_next`] did.
pub enum Sent {
    /// A chunk went to the body; go on.
    Taken,
    /// The body is full: resolves once the chunk is taken (`true`) or the body is gone.
    Waiting(Pin<Box<dyn Future<Output = bool>>>),
    /// The stream ended: the close frame went out, or the body is gone.
    Ended,
}

pub struct Outbox {
    transport: Box<dyn Transport>,
    /// The response body; gone once the close frame is handed to it.
    sink: Option<Sink>,
    /// The socket, to shut it under a client that stopped reading.
    fd: Option<ConnFd>,
    queue: VecDeque<Frame>,
    /// Bytes of events queued or waiting for the body, bounded by `max_bytes`.
    queued_bytes: usize,
    /// `--queue-bytes`.
    max_bytes: usize,
    /// The chunk waiting for room in the body, and since when.
    waiting: Option<(Chunk, Instant)>,
}

impl Outbox {
    pub fn new(transport: Box<dyn Transport>, sink: Sink, fd: Option<ConnFd>, max_bytes: usize) -> Self {
        Outbox {
            transport,
            sink: Some(sink),
            fd,
            queue: VecDeque::new(),
            queued_bytes: 0,
            max_bytes,
            waiting: None,
        }
    }

    pub fn label(&self) -> &'static str {
        self.transport.label()
    }

    pub fn transport(&mut self) -> &mut dyn Transport {
        self.transport.as_mut()
    }

    /// Events queued, for logs.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Whether the client is behind: the body holds all it may and a chunk waits for room,
    /// or half the queue's bytes wait. Typing is not queued then.
    pub fn is_behind(&self) -> bool {
        self.waiting.is_some() || self.queued_bytes > self.max_bytes / 2
    }

    /// Nothing queued and nothing waiting for the body.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.waiting.is_none()
    }

    /// Whether the client left: the body is gone, or the client closed its side.
    pub fn is_closed(&self) -> bool {
        match (&self.sink, self.fd) {
            (Some(sink), _) if sink.is_closed() => true,
            (Some(sink), Some(fd)) => fd.peer_closed(sink),
            _ => false,
        }
    }

    /// Whether a chunk has waited for the body for `timeout` or longer.
    pub fn stalled(&self, now: Instant, timeout: std::time::Duration) -> bool {
        self.waiting
            .as_ref()
            .is_some_and(|(_, since)| now.duration_since(*since) >= timeout)
    }

    /// Queues an event of the session's own.
    pub fn event(&mut self, event: Event, committed_at: Option<Instant>, advances_id: bool) -> Result<(), Full> {
        self.push(Frame::Event {
            event,
            committed_at,
            advances_id,
        })
    }

    /// Queues the status a connection ends with, past the bound: the events before it
    /// were dropped (see [`Outbox::drop_events`]).
    pub fn last_status(&mut self, event: Event) {
        self.queued_bytes += event.json.len();
        self.queue.push_back(Frame::Event {
            event,
            committed_at: None,
            advances_id: false,
        });
    }

    /// Queues a room's batch.
    pub fn batch(&mut self, batch: Arc<Batch>) -> Result<(), Full> {
        self.push(Frame::Batch(batch))
    }

    fn push(&mut self, frame: Frame) -> Result<(), Full> {
        let size = frame.size();
        if self.queued_bytes + size > self.max_bytes {
            return Err(Full);
        }
        self.queued_bytes += size;
        self.queue.push_back(frame);
        Ok(())
    }

    /// Queues a control frame; these are not counted against the bound.
    pub fn control(&mut self, control: Control) {
        self.queue.push_back(Frame::Control(control));
    }

    /// Drops every queued event, keeping control frames.
    pub fn drop_events(&mut self) {
        self.queue.retain(|f| matches!(f, Frame::Control(_)));
        self.queued_bytes = self.waiting.as_ref().map_or(0, |(c, _)| c.size);
    }

    /// Hands the next chunk to the body. `None` when there is nothing to send or a chunk
    /// is already waiting for room.
    pub fn send_next(&mut self) -> Option<Sent> {
        if self.waiting.is_some() || self.queue.is_empty() {
            return None;
        }
        let sink = self.sink.clone()?;
        let (bytes, chunk) = self.encode();
        match sink.try_send(bytes) {
            Ok(()) => Some(self.taken(chunk)),
            Err(TrySendError::Full(bytes)) => {
                self.waiting = Some((chunk, Instant::now()));
                Some(Sent::Waiting(Box::pin(async move { sink.send(bytes).await.is_ok() })))
            }
            Err(TrySendError::Closed(_)) => Some(Sent::Ended),
        }
    }

    /// The waiting chunk was taken (`sent`) or the body is gone.
    pub fn waited(&mut self, sent: bool) -> Sent {
        match self.waiting.take() {
            Some((chunk, _)) if sent => self.taken(chunk),
            _ => Sent::Ended,
        }
    }

    /// Accounts for a chunk the body took.
    fn taken(&mut self, chunk: Chunk) -> Sent {
        self.queued_bytes = self.queued_bytes.saturating_sub(chunk.size);
        let transport = self.transport.label();
        for (kind, n) in chunk.kinds {
            METRICS
                .live_events_sent
                .with_label_values(&[kind.as_str(), transport])
                .inc_by(n);
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
            return Sent::Ended;
        }
        Sent::Taken
    }

    /// Takes up to [`WRITE_BATCH`] frames off the queue as one chunk of bytes. A room's
    /// batch alone is its shared encoding itself, copied nowhere.
    fn encode(&mut self) -> (Bytes, Chunk) {
        let n = self.queue.len().min(WRITE_BATCH);
        let mut chunk = Chunk::default();
        let mut only: Option<Bytes> = None;
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
                    self.transport.event(&mut buf, &event, advances_id);
                }
                Frame::Batch(batch) => {
                    for (kind, n) in &batch.kinds {
                        wire::count_kind(&mut chunk.kinds, *kind, *n);
                    }
                    chunk
                        .committed
                        .extend(batch.committed_at.map(|at| (at, batch.events.len() as u64)));
                    match self.transport.batch(&mut buf, &batch) {
                        Some(shared) if n == 1 => only = Some(shared.clone()),
                        Some(shared) => buf.extend_from_slice(shared),
                        None => {}
                    }
                }
                Frame::Control(control) => {
                    chunk.close |= matches!(control, Control::Close(..));
                    self.transport.control(&mut buf, &control);
                }
            }
        }
        (only.unwrap_or_else(|| buf.freeze()), chunk)
    }

    /// Shuts the socket under a client that does not read: it could not take a status.
    pub fn force_disconnect(&self) {
        if let (Some(fd), Some(sink)) = (self.fd, &self.sink) {
            fd.force_disconnect(sink);
        }
    }
}
