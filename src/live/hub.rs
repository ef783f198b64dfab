//! Routes each committed batch to the rooms that care. Rooms for one user or channel are
//! made on first subscriber and stopped when they report themselves vacant; the four
//! fixed views always have theirs. Which sessions are in a room only the room knows.
use std::collections::HashMap;
use std::time::Duration;

use actix::fut::{self, ActorFutureExt, WrapFuture};
use actix::prelude::*;
use tokio::sync::oneshot;

use super::messages::{Inserted, Join, Revoke, Shutdown, ShuttingDown, Stop, Subscribe, TopNow, Typing, Vacant};
use super::protocol::{Touched, View};
use super::room::Room;
use super::top::TopList;
use crate::metrics::METRICS;
use crate::store::{Cursor, Store};

/// The hub's mailbox: commits and subscriptions waiting to be routed.
pub const HUB_MAILBOX: usize = 4096;

/// Most time a `top` subscription or request waits for this node to route every commit
/// the database held when it came (a commit on its way from the ingest actor or the bus);
/// past it, it goes on with what was routed. The sequencer's position check finds any
/// commit within `POSITION_CHECK`, so only a failing database makes it wait this long.
pub const TOP_AS_OF_WAIT: Duration = Duration::from_secs(2);

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
    /// Every commit up to here was routed to the rooms.
    routed: Cursor,
    /// `top` requests waiting for [`Hub::routed`] to reach a cursor.
    waiting: Vec<(Cursor, oneshot::Sender<()>)>,
}

impl Hub {
    /// A hub whose first commit comes after `routed` (the newest cursor at start).
    pub fn new(coalesce: Duration, store: Store, routed: Cursor) -> Self {
        Hub {
            rooms: HashMap::new(),
            store,
            coalesce,
            shutting_down: false,
            routed,
            waiting: Vec::new(),
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

    /// Resolves once every commit the database holds now was routed to the rooms, so a
    /// `top` list asked for after a write (here or on another node) counts it: a
    /// commit is acknowledged before this node routes it. A room gets whole lists only, so
    /// commits routed before its subscriber joins are never missed.
    fn routed_now(&mut self) -> impl ActorFuture<Self, Output = ()> + 'static {
        let store = self.store.clone();
        let read = actix_web::rt::task::spawn_blocking(move || -> crate::store::StoreResult<Cursor> {
            Ok(crate::store::totals(&mut *store.conn()?)?.cursor)
        });
        read.into_actor(self).then(|res, hub, _| {
            let newest = match res {
                Ok(Ok(newest)) => newest,
                Ok(Err(e)) => {
                    log::warn!("newest cursor not read for a top list error={e}");
                    hub.routed
                }
                Err(_) => hub.routed,
            };
            let routed = (newest > hub.routed).then(|| {
                let (tx, rx) = oneshot::channel();
                hub.waiting.retain(|(_, tx)| !tx.is_closed());
                hub.waiting.push((newest, tx));
                rx
            });
            async move {
                if let Some(rx) = routed {
                    if actix_web::rt::time::timeout(TOP_AS_OF_WAIT, rx).await.is_err() {
                        log::warn!("top list answered before commit {newest} was routed");
                    }
                }
            }
            .into_actor(hub)
        })
    }

    /// Hands a subscriber to its view's room (made if there is none); answered once the
    /// room has it.
    fn join(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> ResponseActFuture<Self, JoinResult> {
        if self.shutting_down {
            return Box::pin(fut::ready(Err(ShuttingDown)));
        }
        let entry = self.room(&msg.view, ctx);
        entry.joins += 1;
        let room = entry.addr.clone();
        let joined = room.send(Join {
            session: msg.session,
            subscription: msg.subscription,
            recipient: msg.recipient,
            user: msg.user,
        });
        Box::pin(
            async move {
                joined.await.map_err(|_| ShuttingDown)?;
                Ok(room.recipient())
            }
            .into_actor(self),
        )
    }
}

type JoinResult = Result<Recipient<super::messages::Leave>, ShuttingDown>;

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
        self.routed = self.routed.max(msg.upto);
        if !self.waiting.is_empty() {
            let routed = self.routed;
            for (_, tx) in self.waiting.extract_if(.., |(newest, _)| *newest <= routed) {
                let _ = tx.send(());
            }
        }
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
    type Result = ResponseActFuture<Self, JoinResult>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Self::Result {
        // A `top` room sends its newcomer the whole list: once every commit the database
        // holds is routed to it, the list counts them.
        if matches!(msg.view, View::Top(..)) {
            return Box::pin(self.routed_now().then(move |(), hub, ctx| hub.join(msg, ctx)));
        }
        // Any other room: the join is queued in its mailbox before any later `Inserted`
        // the hub forwards, so a session that reads its backlog after this misses nothing.
        self.join(msg, ctx)
    }
}

impl Handler<TopNow> for Hub {
    type Result = ResponseActFuture<Self, Option<TopList>>;

    /// To the view's room, made if there is none (a `top` view's only), once every commit
    /// the database holds is routed.
    fn handle(&mut self, msg: TopNow, _: &mut Context<Self>) -> Self::Result {
        if self.shutting_down || !matches!(msg.view, View::Top(..)) {
            return Box::pin(fut::ready(None));
        }
        Box::pin(self.routed_now().then(move |(), hub, ctx| {
            let asked = (!hub.shutting_down).then(|| {
                let entry = hub.room(&msg.view, ctx);
                entry.joins += 1;
                entry.addr.send(msg)
            });
            async move {
                match asked {
                    Some(asked) => asked.await.ok().flatten(),
                    None => None,
                }
            }
            .into_actor(hub)
        }))
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
