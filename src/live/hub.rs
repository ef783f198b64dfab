//! Routes each committed batch to the rooms that care. Rooms for one user or channel are
//! made on first subscriber and stopped when they report themselves vacant; the four
//! fixed views always have theirs. Which sessions are in a room only the room knows.
use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;

use super::messages::{Inserted, Join, Revoke, Shutdown, ShuttingDown, Stop, Subscribe, TopNow, Typing, Vacant};
use super::protocol::{Touched, View};
use super::room::Room;
use super::top::TopList;
use crate::metrics::METRICS;
use crate::store::Store;

/// The hub's mailbox: commits and subscriptions waiting to be routed.
pub const HUB_MAILBOX: usize = 4096;

struct RoomEntry {
    addr: Addr<Room>,
    /// Joins forwarded to the room: equal to the room's own count when none is in flight.
    joins: u64,
}

pub struct Hub {
    rooms: HashMap<View, RoomEntry>,
    /// Where top rooms read their windows.
    store: Store,
    /// The rooms' count-merging window (`--coalesce-ms`).
    coalesce: Duration,
    /// Set by [`Shutdown`]: subscriptions are refused from then on.
    shutting_down: bool,
}

impl Hub {
    pub fn new(coalesce: Duration, store: Store) -> Self {
        Hub {
            rooms: HashMap::new(),
            store,
            coalesce,
            shutting_down: false,
        }
    }

    fn room(&mut self, view: &View, ctx: &mut Context<Self>) -> &mut RoomEntry {
        let (coalesce, hub, store) = (self.coalesce, ctx.address().recipient(), &self.store);
        self.rooms.entry(view.clone()).or_insert_with(|| {
            METRICS.live_rooms.inc();
            RoomEntry {
                addr: Room::new(view.clone(), coalesce, hub, store).start(),
                joins: 0,
            }
        })
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(HUB_MAILBOX);
        for view in View::FIXED {
            self.room(&view, ctx);
        }
        // The top lists of everything are read from the rollups now, in the background:
        // a 30-day window of a large database takes seconds, and the first page that shows
        // it should not wait for them. They stay for the server's life.
        for window in crate::domain::Window::ALL {
            self.room(&View::Top(window, super::top::TopScope::All), ctx);
        }
    }
}

impl Handler<Inserted> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Inserted, _: &mut Context<Self>) {
        let touched = Touched::new(&msg.committed);
        for (view, entry) in &self.rooms {
            if view.cares_about(&touched) {
                entry.addr.do_send(msg.clone());
            }
        }
        // Whoever left a private stream stops seeing it, and its threads, at once. Rare:
        // every stream room is told, and ends that person's sessions there.
        if !touched.left_private.is_empty() {
            let revoke = Revoke {
                users: touched.left_private.clone().into(),
            };
            for (view, entry) in &self.rooms {
                if matches!(view, View::Stream(_)) {
                    entry.addr.do_send(revoke.clone());
                }
            }
        }
    }
}

impl Handler<Subscribe> for Hub {
    type Result = ResponseFuture<Result<Recipient<super::messages::Leave>, ShuttingDown>>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return Box::pin(async { Err(ShuttingDown) });
        }
        let entry = self.room(&msg.view, ctx);
        entry.joins += 1;
        let room = entry.addr.clone();
        // The join is queued in the room's mailbox before any later `Inserted` the hub
        // forwards, so a session that reads its backlog after this resolves misses nothing.
        let joined = room.send(Join {
            session: msg.session,
            subscription: msg.subscription,
            recipient: msg.recipient,
            user: msg.user,
        });
        Box::pin(async move {
            joined.await.map_err(|_| ShuttingDown)?;
            Ok(room.recipient())
        })
    }
}

impl Handler<TopNow> for Hub {
    type Result = ResponseFuture<Option<TopList>>;

    /// To the view's room, made if there is none (a `top` view's only).
    fn handle(&mut self, msg: TopNow, ctx: &mut Context<Self>) -> Self::Result {
        if self.shutting_down || !matches!(msg.view, View::Top(..)) {
            return Box::pin(async { None });
        }
        let entry = self.room(&msg.view, ctx);
        entry.joins += 1;
        let asked = entry.addr.send(msg);
        Box::pin(async move { asked.await.ok().flatten() })
    }
}

impl Handler<Typing> for Hub {
    type Result = ();

    /// To the stream's room, if anyone here watches it (the bus brings other nodes' typing).
    fn handle(&mut self, msg: Typing, _: &mut Context<Self>) {
        if let Some(entry) = self.rooms.get(&View::Stream(msg.stream)) {
            entry.addr.do_send(msg);
        }
    }
}

impl Handler<Vacant> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Vacant, _: &mut Context<Self>) {
        if msg.view.is_fixed() || self.rooms.get(&msg.view).is_none_or(|e| e.joins != msg.joins) {
            return;
        }
        if let Some(entry) = self.rooms.remove(&msg.view) {
            METRICS.live_rooms.dec();
            entry.addr.do_send(Stop);
        }
    }
}

impl Handler<Shutdown> for Hub {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.shutting_down = true;
        let sent: Vec<_> = self.rooms.values().map(|e| e.addr.send(Shutdown)).collect();
        Box::pin(async move {
            for s in sent {
                let _ = s.await;
            }
        })
    }
}
