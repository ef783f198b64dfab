//! Which channels this node reads, and how each is doing. The followed channels live in the
//! database (`store::irc`); every [`IRC_LEASE_RENEW`] (or at once after a change through
//! the API) the node renews its leases and takes the channels nobody holds, so each
//! channel is read by one node at a time and a dead node's channels are taken over once
//! their lease runs out ([`IRC_LEASE`]). The reader (`client`) follows the resulting set.
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::metrics::METRICS;
use crate::store::{irc as followed, Store, StoreError};
use crate::time::now_ms;

/// How long a lease lasts, and how often its node renews it (and looks for channels
/// nobody holds): a dead node's channels are taken over within `IRC_LEASE` +
/// `IRC_LEASE_RENEW`.
pub const IRC_LEASE: Duration = Duration::from_secs(6);
pub const IRC_LEASE_RENEW: Duration = Duration::from_secs(2);
/// The window of a channel's messages-per-second rate.
const RATE_WINDOW_S: usize = 10;

/// A channel's state as this node's reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// JOIN sent (or about to be), not confirmed yet.
    Joining,
    /// In the channel: its lines arrive.
    Live,
    /// The server refused the channel; the reason is its NOTICE.
    Failed(String),
}

#[derive(Debug)]
struct ChannelStatus {
    state: State,
    /// Messages per second over the last [`RATE_WINDOW_S`] seconds, by second.
    buckets: [(i64, u32); RATE_WINDOW_S],
    last_message_at: Option<i64>,
}

/// What one channel looks like from here, for `GET /api/irc/channels`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelView {
    pub state: State,
    pub messages_per_second: f64,
    pub last_message_at: Option<i64>,
}

/// The channels this node reads, and how each is doing. Bounded by the followed channels.
#[derive(Clone, Default)]
pub struct Status(Arc<Mutex<HashMap<String, ChannelStatus>>>);

impl Status {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, ChannelStatus>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The channels read now: new ones start `Joining`, others are forgotten.
    pub(super) fn reading(&self, channels: &BTreeSet<String>) {
        self.with(|m| {
            m.retain(|c, _| channels.contains(c));
            for c in channels {
                m.entry(c.clone()).or_insert(ChannelStatus {
                    state: State::Joining,
                    buckets: [(0, 0); RATE_WINDOW_S],
                    last_message_at: None,
                });
            }
        })
    }

    pub(super) fn set(&self, channel: &str, state: State) {
        self.with(|m| {
            if let Some(s) = m.get_mut(channel) {
                s.state = state;
            }
        })
    }

    /// Every channel back to `Joining` (a new connection).
    pub(super) fn rejoining(&self) {
        self.with(|m| m.values_mut().for_each(|s| s.state = State::Joining))
    }

    pub(super) fn state(&self, channel: &str) -> Option<State> {
        self.with(|m| m.get(channel).map(|s| s.state.clone()))
    }

    pub(super) fn message(&self, channel: &str, at_ms: i64) {
        let second = at_ms.div_euclid(1000);
        self.with(|m| {
            if let Some(s) = m.get_mut(channel) {
                let bucket = &mut s.buckets[second.rem_euclid(RATE_WINDOW_S as i64) as usize];
                if bucket.0 != second {
                    *bucket = (second, 0);
                }
                bucket.1 += 1;
                s.last_message_at = Some(at_ms);
                if s.state == State::Joining {
                    s.state = State::Live;
                }
            }
        })
    }

    /// How `channel` is doing, if this node reads it.
    pub fn view(&self, channel: &str) -> Option<ChannelView> {
        let now = now_ms().div_euclid(1000);
        self.with(|m| {
            m.get(channel).map(|s| {
                let recent: u32 = s
                    .buckets
                    .iter()
                    .filter(|(second, _)| now - second < RATE_WINDOW_S as i64 && *second <= now)
                    .map(|(_, n)| n)
                    .sum();
                ChannelView {
                    state: s.state.clone(),
                    messages_per_second: f64::from(recent) / RATE_WINDOW_S as f64,
                    last_message_at: s.last_message_at,
                }
            })
        })
    }
}

/// Keeps `channels` equal to the channels whose lease this node holds.
pub(super) async fn follow(store: Store, node: String, channels: watch::Sender<BTreeSet<String>>, poke: Arc<Notify>) {
    loop {
        let n = node.clone();
        let lease_ms = IRC_LEASE.as_millis() as i64;
        match store
            .run(move |c| followed::claim(c, &n, now_ms(), lease_ms).map_err(StoreError::from))
            .await
        {
            Ok(claimed) => {
                if claimed.taken_over > 0 {
                    METRICS.irc_takeovers.inc_by(claimed.taken_over as u64);
                    log::info!(
                        "irc channels taken over from a node whose lease ran out count={}",
                        claimed.taken_over
                    );
                }
                METRICS.irc_channels_read.set(claimed.channels.len() as i64);
                let names: BTreeSet<String> = claimed.channels.into_iter().collect();
                channels.send_if_modified(|current| {
                    let changed = *current != names;
                    *current = names;
                    changed
                });
            }
            // The channels being read are kept: their leases run out on their own if this
            // goes on, and `event_id` catches what two readers both store.
            Err(e) => log::warn!("irc leases not renewed error={e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(IRC_LEASE_RENEW) => {}
            _ = poke.notified() => {}
        }
    }
}
