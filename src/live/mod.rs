//! Live delivery. The hub routes committed batches to one room per view; a room
//! serializes envelopes once; one session actor per connection catches up, then writes
//! them through its bounded outbox and its transport.
//!
//! `messages` holds every message between the actors: hub, room and session depend on it,
//! not on each other (the hub only starts rooms).
pub mod catchup;
pub mod hub;
pub mod messages;
pub mod outbox;
pub mod protocol;
pub mod room;
pub mod sequencer;
pub mod session;
pub mod top;
pub mod transport;
pub mod wire;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;

use crate::store::Store;
pub use outbox::{live_body, ConnFd, LiveBody, Sink};

/// The settings live sessions run with (PROTOCOL.md section 6).
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// `--catchup-batch`: events per catch-up read.
    pub catchup_batch: i64,
    /// `--catchup-max`: the largest backlog sent; beyond it, `fallback`.
    pub catchup_max: i64,
    /// `--queue-bytes`: unsent event bytes one connection may hold; beyond it, `overflow`.
    pub queue_bytes: usize,
    /// `--idle-after-ms`: quiet time before an `idle` status.
    pub idle_after: Duration,
    /// `--write-timeout-ms`: how long a socket may accept nothing while events wait.
    pub write_timeout: Duration,
    /// `--send-buffer-bytes`: SO_SNDBUF of live sockets (0: the kernel's).
    pub send_buffer_bytes: usize,
    /// `--max-connections`: live sessions at once.
    pub max_connections: usize,
}

/// Shared by every live handler and session.
pub struct Live {
    pub settings: LiveSettings,
    pub store: Store,
    pub hub: Addr<hub::Hub>,
    /// The bus, for typing that other nodes' sessions should see.
    pub bus: Option<crate::bus::Bus>,
    pub catchup_cache: catchup::BatchCache,
    /// Live sessions now, against `--max-connections`.
    connections: Arc<AtomicUsize>,
    /// The next session id.
    next_id: AtomicU64,
}

impl Live {
    pub fn new(settings: LiveSettings, store: Store, hub: Addr<hub::Hub>, bus: Option<crate::bus::Bus>) -> Self {
        Live {
            settings,
            store,
            hub,
            bus,
            catchup_cache: catchup::BatchCache::default(),
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

    /// A `top` view's list now, from its room (`GET /api/top`, the pages' first paint).
    pub async fn top(
        &self,
        window: crate::domain::Window,
        scope: top::TopScope,
    ) -> Result<top::TopList, crate::error::ApiError> {
        let asked = self.hub.send(messages::TopNow {
            view: protocol::View::Top(window, scope),
        });
        match asked.await {
            Ok(Some(list)) => Ok(list),
            // The window's read failed (the log says why), or the server is stopping.
            _ => Err(crate::error::ApiError::Internal(
                "the top list could not be read".into(),
            )),
        }
    }
}

/// A place under `--max-connections`; given back when dropped.
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
