//! One room per view. Message events go out at once; count events are merged per entity
//! and flushed on a tick, so their rate is bounded however fast messages arrive. Every
//! envelope is serialized, and every batch encoded for each transport, once here; the same
//! bytes go to every subscriber.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::messages::{Deliver, Inserted, Join, Leave, Payload, Revoke, Shutdown, Stop, TopNow, Typing, Vacant};
use super::protocol::{self, Event, View};
use super::top::{window_start, Tally, TopList, TopScope};
use super::wire::Batch;
use crate::domain::Window;
use crate::store::people::Badge;
use crate::store::{Channel, ChannelId, Committed, Cursor, Store, StoreError, Totals, User, UserId};

/// A room's mailbox: commits and joins waiting.
pub const ROOM_MAILBOX: usize = 4096;

/// Commits a top room holds while it reads from the store; past this many (a read that
/// takes far too long) it reads its whole window again instead.
pub const TOP_HELD_MAX: usize = 10_000;

/// A top room of one channel or user stops after this long without a subscriber or a
/// request (reading its window again costs one read of that entity's rollups).
pub const TOP_IDLE: Duration = Duration::from_secs(60);

/// A top view's state in its room: the tally and the reads that keep it.
struct TopRoom {
    window: Window,
    scope: TopScope,
    store: Store,
    /// `None` until the window is read.
    tally: Option<Tally>,
    /// Commits that came while a read was under way: applied, in order, after it.
    held: Vec<Arc<Committed>>,
    reading: bool,
    /// The held commits overflowed: the read under way is of no use, the window is read again.
    stale: bool,
    /// Requests waiting for the window's first read.
    waiting: Vec<tokio::sync::oneshot::Sender<TopList>>,
    /// When the room last had a subscriber or a request.
    used: Instant,
}

struct Subscriber {
    /// Echoed in every delivery, so the session can drop what was meant for an old view.
    subscription: u64,
    recipient: Recipient<Deliver>,
    /// The connection's signed-in person, if any.
    user: Option<String>,
}

/// Count changes waiting for the next flush, latest per entity.
#[derive(Default)]
struct PendingCounts {
    totals: Option<Totals>,
    channels: HashMap<ChannelId, Channel>,
    users: HashMap<UserId, User>,
    /// Streams that changed: on a stream view its threads (their reply counts), on the
    /// workspace view every stream.
    streams: HashMap<ChannelId, Channel>,
    /// A person's badges, per stream (their `workspace` view).
    badges: HashMap<ChannelId, Badge>,
    /// Who is typing (a stream view), until when.
    typing: HashMap<String, i64>,
    /// Poll tallies of a stream view, latest per poll.
    polls: HashMap<crate::store::MessageId, crate::store::polls::Tally>,
    /// The commit time of the oldest change waiting (for the delivery histogram).
    since: Option<Instant>,
}

pub struct Room {
    view: View,
    /// The count-merging window.
    coalesce: Duration,
    /// Told when the last subscriber leaves.
    hub: Recipient<Vacant>,
    /// The one record of who is in this room, by session id.
    subscribers: HashMap<u64, Subscriber>,
    /// Joins handled so far: the hub compares it with what it forwarded.
    joins: u64,
    pending: PendingCounts,
    /// The SSE id of this room's stream so far (see [`Batch::sse_agrees`]).
    sse_id: Cursor,
    /// A `top` view's tally.
    top: Option<TopRoom>,
}

impl Room {
    /// A room for `view`; a `top` view's reads its counts from `store`.
    pub fn new(view: View, coalesce: Duration, hub: Recipient<Vacant>, store: &Store) -> Self {
        let top = match &view {
            View::Top(window, scope) => Some(TopRoom {
                window: *window,
                scope: scope.clone(),
                store: store.clone(),
                tally: None,
                held: Vec::new(),
                reading: false,
                stale: false,
                waiting: Vec::new(),
                used: Instant::now(),
            }),
            _ => None,
        };
        Room {
            top,
            view,
            coalesce,
            hub,
            subscribers: HashMap::new(),
            joins: 0,
            pending: PendingCounts::default(),
            sse_id: Cursor::default(),
        }
    }

    fn remove(&mut self, session: u64) -> Option<Subscriber> {
        let sub = self.subscribers.remove(&session)?;
        // A top room stays a while: reading its window again is the costly part.
        if self.subscribers.is_empty() && !self.view.is_fixed() && self.top.is_none() {
            self.hub.do_send(Vacant {
                view: self.view.clone(),
                joins: self.joins,
            });
        }
        Some(sub)
    }

    fn broadcast(&mut self, events: Vec<Event>, committed_at: Option<Instant>) {
        if events.is_empty() || self.subscribers.is_empty() {
            return;
        }
        let batch = Batch::new(&self.view, events, committed_at, self.sse_id);
        self.sse_id = batch.sse_id_after(self.sse_id);
        let mut overflowed = Vec::new();
        for (id, sub) in &self.subscribers {
            let deliver = Deliver {
                subscription: sub.subscription,
                payload: Payload::Events(batch.clone()),
            };
            // A session whose mailbox is full is not keeping up: it is dropped from the room
            // and told so (one message past the bound), never buffered for.
            if let Err(SendError::Full(_)) = sub.recipient.try_send(deliver) {
                overflowed.push(*id);
            }
        }
        for id in overflowed {
            if let Some(sub) = self.remove(id) {
                sub.recipient.do_send(Deliver {
                    subscription: sub.subscription,
                    payload: Payload::Overflowed,
                });
            }
        }
    }

    fn flush_counts(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let mut events = Vec::new();
        if let Some(t) = pending.totals {
            events.push(protocol::metrics_event(&t));
        }
        let mut channels: Vec<_> = pending.channels.into_values().collect();
        channels.sort_by_key(|c| c.last_message_id);
        events.extend(channels.iter().map(|c| protocol::channel_count_event(Some(c), &c.name)));
        let mut users: Vec<_> = pending.users.into_values().collect();
        users.sort_by_key(|u| u.last_message_id);
        events.extend(users.iter().map(|u| match self.view {
            View::User(_) => protocol::user_profile_event(Some(u), &u.username),
            _ => protocol::user_count_event(u),
        }));
        let mut streams: Vec<_> = pending.streams.into_values().collect();
        streams.sort_by_key(|t| t.last_message_id);
        events.extend(streams.iter().map(|t| match self.view {
            View::Workspace(_) | View::Streams => protocol::stream_state_event(t),
            _ => protocol::reply_count_event(t),
        }));
        let mut polls: Vec<_> = pending.polls.into_values().collect();
        polls.sort_by_key(|t| t.cursor);
        events.extend(polls.iter().map(protocol::poll_tally_event));
        let mut badges: Vec<_> = pending.badges.into_values().collect();
        badges.sort_by_key(|b| b.cursor);
        events.extend(badges.iter().map(protocol::unread_event));
        self.broadcast(events, pending.since);
        if let View::Stream(stream) = self.view {
            self.typing(stream, pending.typing);
        }
    }

    /// Sends the typing of this tick, a notice per typist: all of them in one batch to
    /// everyone but the typists, and to each typist the others'. A session that is behind
    /// misses it: typing is the first thing dropped, and never an overflow.
    fn typing(&mut self, stream: ChannelId, typed: HashMap<String, i64>) {
        let due: Vec<(String, Event)> = typed
            .into_iter()
            .map(|(user, expires_at)| {
                let e = protocol::typing_event(stream, &user, expires_at);
                (user, e)
            })
            .collect();
        if due.is_empty() {
            return;
        }
        let batch_without = |typist: Option<&str>| {
            let events = due
                .iter()
                .filter(|(u, _)| Some(u.as_str()) != typist)
                .map(|(_, e)| e.clone())
                .collect();
            Batch::new(&self.view, events, None, self.sse_id)
        };
        let everyone = batch_without(None);
        let mut own: HashMap<&str, Arc<Batch>> = HashMap::new();
        for sub in self.subscribers.values() {
            let batch = match sub.user.as_deref() {
                Some(u) if due.iter().any(|(t, _)| t == u) => {
                    own.entry(u).or_insert_with(|| batch_without(Some(u))).clone()
                }
                _ => everyone.clone(),
            };
            if batch.events.is_empty() {
                continue;
            }
            let _ = sub.recipient.try_send(Deliver {
                subscription: sub.subscription,
                payload: Payload::Events(batch),
            });
        }
    }

    /// A changed top list to every subscriber, timed from the oldest commit it holds.
    fn broadcast_top(&mut self, list: &TopList) {
        let since = self.pending.since.take();
        self.broadcast(vec![protocol::top_event(list)], since);
    }

    /// A top room's tick: the minutes that left the window go, a changed list goes out, an
    /// idle room of one channel or user stops.
    fn top_tick(&mut self, ctx: &mut Context<Self>) {
        let Some(top) = self.top.as_mut() else {
            return;
        };
        let (window, reading) = (top.window, top.reading);
        match top.tally.as_mut() {
            None if !reading => return self.read_top(None, ctx),
            None => {}
            Some(tally) => {
                let start = window_start(window, crate::time::now_ms());
                if !reading && start > tally.start() {
                    return self.read_top(Some(start), ctx);
                }
                if tally.refresh() {
                    let list = tally.list();
                    self.broadcast_top(&list);
                }
            }
        }
        let top = self.top.as_ref().expect("a top room");
        if top.scope != TopScope::All && self.subscribers.is_empty() && top.used.elapsed() > TOP_IDLE {
            self.hub.do_send(Vacant {
                view: self.view.clone(),
                joins: self.joins,
            });
        }
    }

    /// Reads the top room's window (`expire_to` `None`), or the minutes from its window's
    /// start to `expire_to` that left it, off the actor thread.
    fn read_top(&mut self, expire_to: Option<i64>, ctx: &mut Context<Self>) {
        let Some(top) = self.top.as_mut() else {
            return;
        };
        top.reading = true;
        let (window, scope) = (top.window, top.scope.clone());
        let (from, to) = match (expire_to, &top.tally) {
            (Some(to), Some(tally)) => (tally.start(), Some(to)),
            _ => (window_start(window, crate::time::now_ms()), None),
        };
        let store = top.store.clone();
        let read = async move {
            store
                .snapshot(move |c| -> Result<_, StoreError> { read_counts(c, &scope, from, to) })
                .await
        };
        ctx.spawn(read.into_actor(self).map(move |res, room, ctx| {
            let view = room.view.clone();
            let Some(top) = room.top.as_mut() else {
                return;
            };
            top.reading = false;
            let held = std::mem::take(&mut top.held);
            if std::mem::take(&mut top.stale) {
                top.tally = None;
                return room.read_top(None, ctx);
            }
            match (res, to, top.tally.as_mut()) {
                (Ok(counts), None, _) => {
                    let mut tally = Tally::new(window, top.scope.clone(), from, counts);
                    held.iter().for_each(|c| tally.apply(c));
                    tally.refresh();
                    for tx in top.waiting.drain(..) {
                        let _ = tx.send(tally.list());
                    }
                    let event = protocol::top_event(&tally.list());
                    top.tally = Some(tally);
                    room.broadcast(vec![event], None);
                }
                (Ok(gone), Some(to), Some(tally)) => {
                    tally.expire(to, gone);
                    held.iter().for_each(|c| tally.apply(c));
                }
                (res, _, tally) => {
                    if let Err(e) = res {
                        log::error!("top list read failed view={} error={e}", view.kind());
                    }
                    // Tried again on a later tick; what came meanwhile still counts.
                    match tally {
                        Some(tally) => held.iter().for_each(|c| tally.apply(c)),
                        None => top.waiting.clear(),
                    }
                }
            }
        }));
    }
}

/// A top view's counts of minutes `from..to` (`to` open: the whole window), read in a
/// snapshot that names its cursor. A channel or user that does not exist has none.
fn read_counts(
    c: &mut crate::store::DbConnection,
    scope: &TopScope,
    from: i64,
    to: Option<i64>,
) -> crate::store::StoreResult<crate::store::top::Counts> {
    use crate::store::top::{counts, Counts, Scope};
    let scope = match scope {
        TopScope::All => Some(Scope::All),
        TopScope::Channel(name) => crate::store::channel_by_name(c, name)?.map(|ch| Scope::Channel(ch.id)),
        TopScope::User(name) => crate::store::user_by_name(c, name)?.map(|u| Scope::User(u.id)),
    };
    Ok(match scope {
        Some(scope) => counts(c, scope, from, to)?,
        None => Counts {
            cursor: crate::store::totals(c)?.cursor,
            ..Default::default()
        },
    })
}

impl Actor for Room {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(ROOM_MAILBOX);
        ctx.run_interval(self.coalesce, |room, ctx| {
            // A top list first: it is sent with the time of the oldest commit it holds.
            room.top_tick(ctx);
            room.flush_counts();
        });
        if self.top.is_some() {
            self.read_top(None, ctx);
        }
    }
}

impl Handler<Inserted> for Room {
    type Result = ();

    fn handle(&mut self, msg: Inserted, _: &mut Context<Self>) {
        let c = &msg.committed;
        if let Some(top) = self.top.as_mut() {
            // Followed with or without subscribers: the counts must stay whole.
            match top.tally.as_mut() {
                Some(tally) if !top.reading => tally.apply(c),
                _ if top.held.len() < TOP_HELD_MAX => top.held.push(msg.committed.clone()),
                _ => {
                    top.held.clear();
                    top.stale = true;
                }
            }
            self.pending.since.get_or_insert(msg.at);
            return;
        }
        if self.subscribers.is_empty() {
            return;
        }
        if let View::Me(user) = &self.view {
            let events = c
                .inbox
                .iter()
                .filter(|e| &e.user == user)
                .map(|e| {
                    let row = c.messages.binary_search_by_key(&e.cursor, |m| m.id).ok();
                    protocol::inbox_event(e, row.map(|i| &c.messages[i]))
                })
                .collect();
            return self.broadcast(events, Some(msg.at));
        }
        if self.view.has_messages() {
            let events = c.messages.iter().filter_map(|m| self.view.envelope(m)).collect();
            self.broadcast(events, Some(msg.at));
        }
        let p = &mut self.pending;
        p.since.get_or_insert(msg.at);
        match &self.view {
            View::Home => p.totals = Some(c.totals),
            View::Messages => {}
            View::Channels | View::Channel(_) => p.channels.extend(
                c.channels
                    .iter()
                    .filter(|ch| self.view.wants_channel(ch))
                    .map(|ch| (ch.id, ch.clone())),
            ),
            View::Stream(id) => {
                p.streams.extend(
                    c.channels
                        .iter()
                        .filter(|ch| ch.parent_stream_id == Some(*id))
                        .map(|ch| (ch.id, ch.clone())),
                );
                p.polls.extend(
                    c.polls
                        .iter()
                        .filter(|t| t.stream_id == *id)
                        .map(|t| (t.event_id, t.clone())),
                );
            }
            View::Workspace(None) | View::Streams => p
                .streams
                .extend(c.channels.iter().filter(|ch| !ch.private).map(|ch| (ch.id, ch.clone()))),
            // A person's streams: those their badges name (every member's badge moves with
            // its stream's state).
            View::Workspace(Some(user)) => {
                for b in c.badges.iter().filter(|b| &b.user == user) {
                    if let Some(ch) = c.channels.iter().find(|ch| ch.id == b.stream_id) {
                        p.streams.insert(ch.id, ch.clone());
                    }
                    p.badges.insert(b.stream_id, b.clone());
                }
            }
            View::Me(_) | View::Top(..) => {}
            View::Users | View::User(_) => p.users.extend(
                c.users
                    .iter()
                    .filter(|u| self.view.wants_user(&u.username))
                    .map(|u| (u.id, u.clone())),
            ),
        }
    }
}

impl Handler<Join> for Room {
    type Result = ();

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) {
        self.joins += 1;
        let sub = Subscriber {
            subscription: msg.subscription,
            recipient: msg.recipient,
            user: msg.user,
        };
        // A top view's list goes to the newcomer at once (its catch-up has none): as of
        // every commit here, so a change not sent yet goes to everyone now.
        let list = self.top.as_mut().and_then(|t| {
            t.used = Instant::now();
            let tally = t.tally.as_mut()?;
            Some((tally.refresh(), tally.list()))
        });
        // Unchanged: to the newcomer alone. Changed: to everyone, the newcomer with them.
        if let Some((false, list)) = &list {
            let batch = Batch::new(&self.view, vec![protocol::top_event(list)], None, self.sse_id);
            let _ = sub.recipient.try_send(Deliver {
                subscription: sub.subscription,
                payload: Payload::Events(batch),
            });
        }
        self.subscribers.insert(msg.session, sub);
        if let Some((true, list)) = &list {
            self.broadcast_top(list);
        }
    }
}

impl Handler<TopNow> for Room {
    type Result = ResponseFuture<Option<TopList>>;

    fn handle(&mut self, _: TopNow, _: &mut Context<Self>) -> Self::Result {
        // Counted as a join: the hub does not stop a room with a request on its way.
        self.joins += 1;
        let Some(top) = self.top.as_mut() else {
            return Box::pin(async { None });
        };
        top.used = Instant::now();
        if let Some(tally) = top.tally.as_mut() {
            // As of every commit here; a change not sent yet goes to the subscribers now.
            let changed = tally.refresh();
            let list = tally.list();
            if changed {
                self.broadcast_top(&list);
            }
            return Box::pin(async move { Some(list) });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        top.waiting.push(tx);
        Box::pin(async move { rx.await.ok() })
    }
}

impl Handler<Leave> for Room {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        self.remove(msg.session);
    }
}

impl Handler<Revoke> for Room {
    type Result = ();

    fn handle(&mut self, msg: Revoke, _: &mut Context<Self>) {
        let gone: Vec<u64> = self
            .subscribers
            .iter()
            .filter(|(_, s)| s.user.as_ref().is_some_and(|u| msg.users.contains(u)))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(sub) = self.remove(id) {
                sub.recipient.do_send(Deliver {
                    subscription: sub.subscription,
                    payload: Payload::Revoked,
                });
            }
        }
    }
}

impl Handler<Typing> for Room {
    type Result = ();

    fn handle(&mut self, msg: Typing, _: &mut Context<Self>) {
        // Merged per person until the next flush: the latest expiry wins.
        let at = self.pending.typing.entry(msg.user).or_default();
        *at = (*at).max(msg.expires_at);
    }
}

impl Handler<Stop> for Room {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Shutdown> for Room {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {
        for (_, sub) in self.subscribers.drain() {
            sub.recipient.do_send(Deliver {
                subscription: sub.subscription,
                payload: Payload::Shutdown,
            });
        }
    }
}
