//! Ingest straight from Twitch-style IRC: the followed channels (kept in the database and
//! managed through `/api/irc/channels`) are read by one connection per node, each channel
//! by the one node holding its lease, and every chat line goes to the same ingest actor as
//! `POST /api/messages` (group commit, counts, search, live views, the bus). `line` maps
//! lines to messages, `client` keeps the connection (capabilities, login, paced joins,
//! PING/PONG, reconnects), `follow` the leases and each channel's state.
pub mod client;
pub mod follow;
pub mod line;

use std::collections::BTreeSet;
use std::sync::Arc;

use actix::Addr;
use tokio::sync::{mpsc, watch, Notify};

pub use client::{IrcSettings, ServerAddr};
pub use follow::{ChannelView, State, Status};

use crate::ingest::IngestActor;
use crate::store::{irc as followed, Store, StoreError};

/// A channel as a person names it (`#` optional, any case) as it is followed and stored:
/// without `#`, lowercased, and a valid channel name; the error says why not.
pub fn channel_name(given: &str) -> Result<String, String> {
    let name = given.strip_prefix('#').unwrap_or(given).to_ascii_lowercase();
    if crate::domain::valid_name(&name) {
        Ok(name)
    } else {
        Err(format!(
            "`{given}` is not a channel name ({})",
            crate::domain::NAME_RULE
        ))
    }
}

/// The running IRC reader of this node.
#[derive(Clone)]
pub struct Irc {
    /// How each channel this node reads is doing.
    pub status: Status,
    poke: Arc<Notify>,
    store: Store,
    node: String,
}

impl Irc {
    /// Follows `initial` (those not followed yet), then reads what this node holds.
    pub async fn start(
        settings: IrcSettings,
        initial: Vec<String>,
        store: Store,
        node: String,
        ingest: Addr<IngestActor>,
    ) -> Result<Irc, StoreError> {
        let now = crate::time::now_ms();
        store
            .run(move |c| followed::follow_missing(c, &initial, now).map_err(StoreError::from))
            .await?;
        let (tx, rx) = mpsc::channel(client::IRC_QUEUE);
        let (channels_tx, channels_rx) = watch::channel(BTreeSet::new());
        let irc = Irc {
            status: Status::default(),
            poke: Arc::new(Notify::new()),
            store,
            node,
        };
        actix_web::rt::spawn(client::write_to_ingest(rx, ingest));
        actix_web::rt::spawn(client::read(settings, channels_rx, irc.status.clone(), tx));
        actix_web::rt::spawn(follow::follow(
            irc.store.clone(),
            irc.node.clone(),
            channels_tx,
            irc.poke.clone(),
        ));
        Ok(irc)
    }

    /// Looks at the followed channels now rather than at the next renewal.
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// Gives this node's channels up, so another node takes them at once (at shutdown).
    pub async fn release(&self) {
        let node = self.node.clone();
        if let Err(e) = self
            .store
            .run(move |c| followed::release(c, &node).map_err(StoreError::from))
            .await
        {
            log::warn!("irc leases not released error={e}");
        }
    }
}
