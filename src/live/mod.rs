//! Live delivery: the hub routes committed batches to one room per view, rooms serialize
//! envelopes once, and one session actor per connection writes them through a bounded queue.
pub mod hub;
pub mod protocol;
pub mod room;
pub mod session;
pub mod wire;

use std::collections::{HashMap, VecDeque};
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix::Addr;
use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;

use crate::store::{MessageFilter, Store};
use protocol::Event;

/// The settings live sessions run with (PROTOCOL.md section 6).
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub catchup_batch: i64,
    pub catchup_max: i64,
    pub queue_bytes: usize,
    pub idle_after: Duration,
    pub write_timeout: Duration,
    pub send_buffer_bytes: usize,
    pub max_connections: usize,
    pub allowed_origins: Vec<String>,
}

/// Catch-up batches kept for other sessions resuming from the same place.
pub const CATCHUP_CACHE_BATCHES: usize = 64;

/// One catch-up read: the messages of `filter` after `after`, up to `upto`, at most `limit`.
/// Stored messages never change, so the same key always reads the same batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchKey {
    pub filter: MessageFilter,
    pub after: i64,
    pub upto: i64,
    pub limit: i64,
}

/// The last [`CATCHUP_CACHE_BATCHES`] catch-up batches, serialized: when many clients
/// resume from the same cursor at once (a reconnect storm after a restart or a network
/// blip), each batch is read from SQLite and serialized once instead of once per client.
#[derive(Default)]
pub struct BatchCache {
    entries: Mutex<BatchEntries>,
}

#[derive(Default)]
struct BatchEntries {
    batches: HashMap<BatchKey, Arc<[Event]>>,
    /// Insertion order, oldest first: the next to evict.
    order: VecDeque<BatchKey>,
}

impl BatchCache {
    /// The entries. Nothing done under the lock can panic, so a poisoned lock (a panic
    /// elsewhere in that thread) never means half-changed entries: it is used as is,
    /// and a reading session never panics on it.
    fn entries(&self) -> std::sync::MutexGuard<'_, BatchEntries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, key: &BatchKey) -> Option<Arc<[Event]>> {
        self.entries().batches.get(key).cloned()
    }

    pub fn put(&self, key: BatchKey, batch: Arc<[Event]>) {
        let mut entries = self.entries();
        if entries.batches.insert(key, batch).is_none() {
            entries.order.push_back(key);
            if entries.order.len() > CATCHUP_CACHE_BATCHES {
                if let Some(oldest) = entries.order.pop_front() {
                    entries.batches.remove(&oldest);
                }
            }
        }
    }
}

/// Shared by every live handler and session.
pub struct Live {
    pub settings: LiveSettings,
    pub store: Store,
    pub hub: Addr<hub::Hub>,
    pub catchup_cache: BatchCache,
    connections: Arc<AtomicUsize>,
    next_id: AtomicU64,
}

impl Live {
    pub fn new(settings: LiveSettings, store: Store, hub: Addr<hub::Hub>) -> Self {
        Live {
            settings,
            store,
            hub,
            catchup_cache: BatchCache::default(),
            connections: Arc::new(AtomicUsize::new(0)),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A place under `--max-connections`, held for the life of a session.
    pub fn try_slot(&self) -> Option<Slot> {
        let n = self.connections.fetch_add(1, Ordering::AcqRel);
        if n >= self.settings.max_connections {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(self.connections.clone()))
    }
}

pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
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

    /// Shuts down the socket under a live response that is still being sent, so a client
    /// that stopped reading is disconnected instead of holding the connection open forever:
    /// actix-web has no write timeout. Only while the response body is alive (its `sink`
    /// open) is the fd certainly still this connection's; the body is dropped, and this
    /// check runs, on the same worker thread.
    pub fn force_disconnect(self, sink: &Sink) {
        use std::os::fd::FromRawFd;
        if !sink.is_closed() {
            // SAFETY: the fd is open (see above); ManuallyDrop keeps it from being closed here.
            let stream = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(self.0) });
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Encoded chunks buffered between a session and its response body.
pub const BODY_CHUNKS: usize = 4;

/// What a session writes its encoded frames to: the response body's channel. The body is
/// dropped when the connection ends, which closes the channel (`Sink::is_closed`).
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
