//! Delivers commits to the hub in cursor order, each exactly once, whichever way they came:
//! this node's own commits, other nodes' commits from the bus, or a range read from the
//! database. The database is the authority and the bus only a fast path (PROTOCOL.md 7.4):
//! a commit that does not start right after what was delivered waits [`GAP_WAIT`] for the
//! ones before it, then the missing range is read from the database; and at least every
//! [`POSITION_CHECK`] the newest cursor in the database is compared with what was delivered.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::messages::{Inserted, Sequence};
use crate::metrics::METRICS;
use crate::store::{self, Committed, Cursor, MessageId, Store};

/// How long a commit that arrived out of order waits for the ones before it.
pub const GAP_WAIT: Duration = Duration::from_millis(50);
/// How often the database's newest cursor is compared with what was delivered.
pub const POSITION_CHECK: Duration = Duration::from_millis(500);
/// Most cursors read from the database at once when filling a gap.
pub const GAP_FILL_BATCH: i64 = 1000;
/// Most commits held out of order; past it the gap is filled at once.
pub const MAX_PENDING: usize = 1024;
/// The sequencer's mailbox: commits waiting to be ordered.
pub const SEQUENCER_MAILBOX: usize = 4096;

/// The cursor delivered so far, for `/healthz`.
#[derive(Clone, Default)]
pub struct Delivered(Arc<AtomicI64>);

impl Delivered {
    pub fn get(&self) -> Cursor {
        MessageId(self.0.load(Ordering::Relaxed))
    }
}

struct Pending {
    last: Cursor,
    committed: Arc<Committed>,
    at: Instant,
}

pub struct Sequencer {
    /// The hub: it routes each commit to the rooms.
    hub: Recipient<Inserted>,
    /// Where gaps are filled from.
    store: Store,
    /// Everything up to here went to the hub.
    delivered: Cursor,
    /// Shared with `/healthz`.
    shared: Delivered,
    /// Commits that arrived ahead of a gap, by their first cursor.
    pending: BTreeMap<Cursor, Pending>,
    /// Since when the first pending commit has waited for the gap before it.
    gap_since: Option<Instant>,
    /// Whether a database read is under way (at most one).
    filling: bool,
}

impl Sequencer {
    /// Starts delivering after `delivered`: the newest cursor when the node started.
    pub fn new(hub: Recipient<Inserted>, store: Store, delivered: Cursor) -> (Self, Delivered) {
        let shared = Delivered(Arc::new(AtomicI64::new(delivered.0)));
        let sequencer = Sequencer {
            hub,
            store,
            delivered,
            shared: shared.clone(),
            pending: BTreeMap::new(),
            gap_since: None,
            filling: false,
        };
        (sequencer, shared)
    }

    /// Takes a commit from any source: delivers it if it is next, holds it if a gap is
    /// before it, drops it (or the part of it) already delivered.
    fn accept(&mut self, committed: Arc<Committed>, at: Instant, ctx: &mut Context<Self>) {
        let (Some(first), Some(last)) = (committed.messages.first(), committed.messages.last()) else {
            return;
        };
        let (first, last) = (first.id, last.id);
        if last <= self.delivered {
            return;
        }
        let first = MessageId(first.0.max(self.delivered.0 + 1));
        self.pending.entry(first).or_insert(Pending { last, committed, at });
        self.drain(ctx);
    }

    /// Delivers every pending commit that is next in order; notes a gap when one is left.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > self.delivered.0 + 1 {
                break;
            }
            let p = entry.remove();
            if p.last > self.delivered {
                let committed = after(p.committed, self.delivered);
                self.deliver(committed, p.last, p.at);
            }
        }
        if self.pending.is_empty() {
            self.gap_since = None;
            return;
        }
        if self.gap_since.is_none() {
            self.gap_since = Some(Instant::now());
            ctx.run_later(GAP_WAIT, |act, ctx| act.check_gap(ctx));
        }
        if self.pending.len() > MAX_PENDING {
            self.check_gap(ctx);
        }
    }

    fn deliver(&mut self, committed: Arc<Committed>, last: Cursor, at: Instant) {
        self.delivered = last;
        self.shared.0.store(last.0, Ordering::Relaxed);
        self.hub.do_send(Inserted {
            committed,
            upto: last,
            at,
        });
    }

    /// Fills the gap before the first pending commit from the database once it has waited
    /// long enough (or too many commits wait behind it).
    fn check_gap(&mut self, ctx: &mut Context<Self>) {
        let Some((&next, _)) = self.pending.first_key_value() else {
            return;
        };
        let waited = self.gap_since.is_some_and(|s| s.elapsed() >= GAP_WAIT);
        if !waited && self.pending.len() <= MAX_PENDING {
            return;
        }
        self.fill(MessageId(next.0 - 1), ctx);
    }

    /// Reads what was committed after `delivered` up to `upto` (at most
    /// [`GAP_FILL_BATCH`] cursors at a time) and delivers it.
    fn fill(&mut self, upto: Cursor, ctx: &mut Context<Self>) {
        if self.filling || upto <= self.delivered {
            return;
        }
        self.filling = true;
        let first = MessageId(self.delivered.0 + 1);
        let last = MessageId(upto.0.min(first.0 + GAP_FILL_BATCH - 1));
        let store = self.store.clone();
        let read = actix_web::rt::task::spawn_blocking(move || {
            let mut conn = store.conn()?;
            store::committed_between(&mut conn, first, last).map_err(store::StoreError::from)
        });
        ctx.spawn(read.into_actor(self).map(move |res, act, ctx| {
            act.filling = false;
            match res {
                Ok(Ok(committed)) => {
                    METRICS.gap_fill_reads.inc();
                    METRICS.gap_fill_events.inc_by(committed.messages.len() as u64);
                    if last > act.delivered {
                        // Everything up to `last` is committed (it was below a newer commit
                        // or the newest), so the range is whole even where it holds nothing.
                        // Commits that came in order while it was read are not sent again.
                        let committed = after(Arc::new(committed), act.delivered);
                        act.deliver(committed, last, Instant::now());
                    }
                    act.drain(ctx);
                    if act.gap_since.is_some() {
                        act.check_gap(ctx);
                    }
                }
                Ok(Err(e)) => log::warn!("gap fill failed first={first} last={last} error={e}"),
                Err(e) => log::warn!("gap fill interrupted first={first} last={last} error={e}"),
            }
        }));
    }

    /// Compares the database's newest cursor with what was delivered, and fills the
    /// difference that no pending commit covers.
    fn check_position(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let read = actix_web::rt::task::spawn_blocking(move || {
            let mut conn = store.conn()?;
            store::totals(&mut conn).map_err(store::StoreError::from)
        });
        ctx.spawn(read.into_actor(self).map(|res, act, ctx| {
            let newest = match res {
                Ok(Ok(totals)) => totals.cursor,
                _ => return,
            };
            METRICS.delivery_lag.set(newest.0.saturating_sub(act.delivered.0));
            let upto = act
                .pending
                .first_key_value()
                .map_or(newest, |(first, _)| MessageId(first.0 - 1).min(newest));
            act.fill(upto, ctx);
        }));
    }
}

/// A commit without its messages at or below `delivered` (a gap fill read in batches can
/// end inside a commit that also came over the bus).
fn after(committed: Arc<Committed>, delivered: Cursor) -> Arc<Committed> {
    if committed.messages.first().is_none_or(|m| m.id > delivered) {
        return committed;
    }
    Arc::new(Committed {
        messages: committed
            .messages
            .iter()
            .filter(|m| m.id > delivered)
            .cloned()
            .collect(),
        channels: committed.channels.clone(),
        users: committed.users.clone(),
        totals: committed.totals,
        badges: committed
            .badges
            .iter()
            .filter(|b| b.cursor > delivered)
            .cloned()
            .collect(),
        inbox: committed
            .inbox
            .iter()
            .filter(|e| e.cursor > delivered)
            .cloned()
            .collect(),
        removed: committed
            .removed
            .iter()
            .filter(|r| r.cursor > delivered)
            .cloned()
            .collect(),
        polls: committed
            .polls
            .iter()
            .filter(|p| p.cursor > delivered)
            .cloned()
            .collect(),
    })
}

impl Actor for Sequencer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(SEQUENCER_MAILBOX);
        ctx.run_interval(POSITION_CHECK, |act, ctx| act.check_position(ctx));
    }
}

impl Handler<Sequence> for Sequencer {
    type Result = ();

    fn handle(&mut self, msg: Sequence, ctx: &mut Context<Self>) {
        self.accept(msg.committed, msg.at, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewMessage;

    /// What the sequencer delivered: message ids per delivery.
    type Seen = Arc<std::sync::Mutex<Vec<Vec<i64>>>>;

    /// Collects what the sequencer delivers.
    #[derive(Default)]
    struct Collector(Seen);

    impl Actor for Collector {
        type Context = Context<Self>;
    }

    impl Handler<Inserted> for Collector {
        type Result = ();
        fn handle(&mut self, msg: Inserted, _: &mut Context<Self>) {
            let ids = msg.committed.messages.iter().map(|m| m.id.0).collect();
            self.0.lock().unwrap().push(ids);
        }
    }

    /// A store with `commits` commits of two messages each, and what each commit changed.
    fn stored(commits: usize) -> (tempfile::TempDir, Store, Vec<Arc<Committed>>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("t.db").to_str().unwrap(), 2).unwrap();
        let message = |n: usize| NewMessage {
            channel: format!("c{}", n % 3),
            user: format!("u{}", n % 5),
            text: format!("text {n}"),
            sent_at: 1_700_000_000_000 + n as i64,
            tags: None,
            display_name: None,
            event_id: None,
        };
        let committed = (0..commits)
            .map(|i| {
                let (_, c) = store
                    .insert_batches(&[vec![message(2 * i), message(2 * i + 1)]])
                    .unwrap();
                Arc::new(c)
            })
            .collect();
        (dir, store, committed)
    }

    fn start(store: &Store) -> (Addr<Sequencer>, Seen) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let collector = Collector(seen.clone()).start();
        let (sequencer, _) = Sequencer::new(collector.recipient(), store.clone(), MessageId(0));
        (sequencer.start(), seen)
    }

    fn send(sequencer: &Addr<Sequencer>, committed: &Arc<Committed>) {
        sequencer.do_send(Sequence {
            committed: committed.clone(),
            at: Instant::now(),
        });
    }

    fn flat(seen: &std::sync::Mutex<Vec<Vec<i64>>>) -> Vec<i64> {
        seen.lock().unwrap().iter().flatten().copied().collect()
    }

    #[actix_rt::test]
    async fn out_of_order_and_repeated_commits_are_delivered_in_order_once() {
        let (_dir, store, c) = stored(3);
        let (sequencer, seen) = start(&store);
        for i in [1, 2, 1, 0, 2, 0] {
            send(&sequencer, &c[i]);
        }
        actix_rt::time::sleep(GAP_WAIT / 2).await;
        assert_eq!(flat(&seen), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(seen.lock().unwrap().len(), 3, "each commit as it came, none read back");
    }

    #[actix_rt::test]
    async fn a_commit_that_never_comes_is_read_from_the_database() {
        let (_dir, store, c) = stored(3);
        let (sequencer, seen) = start(&store);
        send(&sequencer, &c[2]);
        actix_rt::time::sleep(GAP_WAIT * 4).await;
        assert_eq!(flat(&seen), vec![1, 2, 3, 4, 5, 6], "the gap 1..=4 filled, then 5..=6");
        // The commits that were lost, arriving late, are not delivered again.
        send(&sequencer, &c[0]);
        send(&sequencer, &c[1]);
        actix_rt::time::sleep(GAP_WAIT).await;
        assert_eq!(flat(&seen), vec![1, 2, 3, 4, 5, 6]);
    }

    /// A gap fill that overlaps what was delivered while it was read, or a commit that a
    /// fill ended inside, gives only what is new.
    #[test]
    fn what_was_delivered_is_cut_off() {
        let (_dir, _store, c) = stored(2);
        let both = Arc::new(Committed {
            messages: c.iter().flat_map(|c| c.messages.clone()).collect(),
            ..Default::default()
        });
        let ids = |c: &Committed| c.messages.iter().map(|m| m.id.0).collect::<Vec<_>>();
        assert_eq!(ids(&after(both.clone(), MessageId(0))), vec![1, 2, 3, 4]);
        assert_eq!(ids(&after(both.clone(), MessageId(3))), vec![4]);
        assert!(ids(&after(both, MessageId(4))).is_empty());
    }

    #[actix_rt::test]
    async fn commits_nobody_announced_are_found_by_the_position_check() {
        let (_dir, store, _) = stored(2);
        let (_sequencer, seen) = start(&store);
        actix_rt::time::sleep(POSITION_CHECK * 3).await;
        assert_eq!(flat(&seen), vec![1, 2, 3, 4]);
    }
}
