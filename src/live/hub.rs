//! Routes each committed batch to the rooms that care, and creates per-user and
//! per-channel rooms on first subscriber, dropping them when the last one leaves.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::protocol::View;
use super::room::{Join, Leave, Room, ServerShutdown};
use super::session::Deliver;
use crate::metrics::METRICS;
use crate::store::Committed;

/// What one transaction stored, published after its commit.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Inserted {
    pub committed: Arc<Committed>,
    pub at: Instant,
}

#[derive(Message)]
#[rtype(result = "Result<(), ShuttingDown>")]
pub struct Subscribe {
    pub view: View,
    pub session: u64,
    pub subscription: u64,
    pub recipient: Recipient<Deliver>,
}

#[derive(Debug)]
pub struct ShuttingDown;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub view: View,
    pub session: u64,
}

/// Tells every room, and so every session, that the server is stopping.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

struct RoomEntry {
    addr: Addr<Room>,
    subscribers: usize,
}

pub struct Hub {
    rooms: HashMap<View, RoomEntry>,
    coalesce: Duration,
    shutting_down: bool,
}

impl Hub {
    pub fn new(coalesce: Duration) -> Self {
        Hub {
            rooms: HashMap::new(),
            coalesce,
            shutting_down: false,
        }
    }

    fn room(&mut self, view: &View) -> &mut RoomEntry {
        let coalesce = self.coalesce;
        self.rooms.entry(view.clone()).or_insert_with(|| {
            METRICS.live_rooms.inc();
            RoomEntry {
                addr: Room::new(view.clone(), coalesce).start(),
                subscribers: 0,
            }
        })
    }

    fn is_fixed(view: &View) -> bool {
        matches!(view, View::Home | View::Messages | View::Channels | View::Users)
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        for view in [View::Home, View::Messages, View::Channels, View::Users] {
            self.room(&view);
        }
    }
}

impl Handler<Inserted> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Inserted, _: &mut Context<Self>) {
        for (view, entry) in &self.rooms {
            let cares = match view {
                View::User(name) => msg.committed.users.iter().any(|u| &u.username == name),
                View::Channel(name) => msg.committed.channels.iter().any(|c| &c.name == name),
                _ => true,
            };
            if cares {
                entry.addr.do_send(msg.clone());
            }
        }
    }
}

impl Handler<Subscribe> for Hub {
    type Result = ResponseFuture<Result<(), ShuttingDown>>;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return Box::pin(async { Err(ShuttingDown) });
        }
        let entry = self.room(&msg.view);
        entry.subscribers += 1;
        // The join is queued in the room's mailbox before any later `Inserted` the hub
        // forwards, so a session that reads its backlog after this resolves misses nothing.
        let joined = entry.addr.send(Join {
            session: msg.session,
            subscription: msg.subscription,
            recipient: msg.recipient,
        });
        Box::pin(async move { joined.await.map_err(|_| ShuttingDown) })
    }
}

impl Handler<Unsubscribe> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        let Some(entry) = self.rooms.get_mut(&msg.view) else {
            return;
        };
        entry.subscribers = entry.subscribers.saturating_sub(1);
        entry.addr.do_send(Leave { session: msg.session });
        if entry.subscribers == 0 && !Self::is_fixed(&msg.view) {
            if let Some(entry) = self.rooms.remove(&msg.view) {
                METRICS.live_rooms.dec();
                entry.addr.do_send(super::room::Stop);
            }
        }
    }
}

impl Handler<Shutdown> for Hub {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.shutting_down = true;
        let sent: Vec<_> = self.rooms.values().map(|e| e.addr.send(ServerShutdown)).collect();
        Box::pin(async move {
            for s in sent {
                let _ = s.await;
            }
        })
    }
}
