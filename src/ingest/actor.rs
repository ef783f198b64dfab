//! The only writer. Requests that arrive while a transaction is running wait together and
//! are committed in the next one (group commit); each is answered after its commit.
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::bus::Bus;
use crate::live::messages::Sequence;
use crate::live::sequencer::Sequencer;
use crate::metrics::METRICS;
use crate::store::{
    Actor as StreamActor, Done, NewMessage, OpOutcome, RequestOutcome, Store, StoreError, StoreResult, StreamOp, Write,
    WriteTrouble,
};

/// Whether the store took the last commit, for `/healthz`: set by the ingest actor after
/// every commit.
#[derive(Clone, Default)]
pub struct WriteHealth(Arc<std::sync::atomic::AtomicU8>);

impl WriteHealth {
    pub fn get(&self) -> Option<WriteTrouble> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            1 => Some(WriteTrouble::Full),
            2 => Some(WriteTrouble::ReadOnly),
            _ => None,
        }
    }

    fn set(&self, trouble: Option<WriteTrouble>) {
        let v = match trouble {
            None => 0,
            Some(WriteTrouble::Full) => 1,
            Some(WriteTrouble::ReadOnly) => 2,
        };
        self.0.store(v, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Commits slower than this are logged.
const SLOW_COMMIT_MS: u128 = 250;

#[derive(Debug)]
pub enum IngestError {
    /// The queue of messages waiting for commit is full.
    Overloaded,
    /// More messages than the queue can ever hold at once.
    TooLarge,
}

pub type Answer = oneshot::Receiver<StoreResult<RequestOutcome>>;

#[derive(Message)]
#[rtype(result = "Result<Answer, IngestError>")]
pub struct Ingest(pub Vec<NewMessage>);

/// A change to a stream (PROTOCOL.md section 8), committed like an ingest request: its
/// events take the next cursors and reach the live views the same way.
#[derive(Message)]
#[rtype(result = "Result<OpAnswer, IngestError>")]
pub struct Operate(pub StreamActor, pub StreamOp);

pub type OpAnswer = oneshot::Receiver<StoreResult<OpOutcome>>;

/// Where a request's outcome goes.
enum Reply {
    Messages(oneshot::Sender<StoreResult<RequestOutcome>>),
    Stream(oneshot::Sender<StoreResult<OpOutcome>>),
}

impl Reply {
    fn send(self, outcome: StoreResult<Done>) {
        match (self, outcome) {
            (Reply::Messages(tx), Ok(Done::Messages(o))) => drop(tx.send(Ok(o))),
            (Reply::Stream(tx), Ok(Done::Stream(o))) => drop(tx.send(Ok(*o))),
            (Reply::Messages(tx), Err(e)) => drop(tx.send(Err(e))),
            (Reply::Stream(tx), Err(e)) => drop(tx.send(Err(e))),
            (_, Ok(_)) => unreachable!("every request is answered in its own kind"),
        }
    }
}

/// Resolves once nothing is waiting for commit.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

type Waiting = (Write, Reply);

pub struct IngestActor {
    store: Store,
    /// Told of every commit, after it: it hands them to the live views in cursor order.
    sequencer: Addr<Sequencer>,
    /// Told of every commit too, for the other nodes; `None` without `--bus`.
    bus: Option<Bus>,
    /// `--ingest-queue`: most messages accepted and not yet committed.
    capacity: u64,
    /// Messages accepted and not yet committed, in flight or waiting.
    depth: u64,
    /// Requests that arrived during the running commit: the next commit takes them all.
    waiting: Vec<Waiting>,
    /// Whether a commit is running (there is at most one).
    in_flight: bool,
    /// `Flush` callers, answered once nothing waits.
    flushed: Vec<oneshot::Sender<()>>,
    /// What the last commit said about the store, for `/healthz`.
    health: WriteHealth,
}

impl IngestActor {
    pub fn new(store: Store, sequencer: Addr<Sequencer>, bus: Option<Bus>, capacity: u64, health: WriteHealth) -> Self {
        IngestActor {
            store,
            sequencer,
            bus,
            capacity,
            depth: 0,
            waiting: Vec::new(),
            in_flight: false,
            flushed: Vec::new(),
            health,
        }
    }

    fn commit_next(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight {
            return;
        }
        if self.waiting.is_empty() {
            for tx in self.flushed.drain(..) {
                let _ = tx.send(());
            }
            return;
        }
        self.in_flight = true;
        let (writes, answers): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting).into_iter().unzip();
        let count: u64 = writes.iter().map(weight).sum();
        let store = self.store.clone();
        let started = Instant::now();
        let work = actix_web::rt::task::spawn_blocking(move || store.commit(&writes));
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            let elapsed = started.elapsed();
            METRICS.ingest_commit_seconds.observe(elapsed.as_secs_f64());
            METRICS.ingest_batch_size.observe(count as f64);
            if elapsed.as_millis() > SLOW_COMMIT_MS {
                log::warn!(
                    "slow commit messages={count} requests={} ms={}",
                    answers.len(),
                    elapsed.as_millis()
                );
            }
            match result
                .map_err(|e| StoreError::Interrupted(e.to_string()))
                .and_then(|r| r)
            {
                Ok((outcomes, committed)) => {
                    // A request refused inside the commit (its savepoint rolled back) may
                    // say the store takes no writes just as well as a failed commit.
                    let trouble = outcomes
                        .iter()
                        .find_map(|o| o.as_ref().err().and_then(StoreError::write_trouble));
                    act.health.set(trouble);
                    METRICS
                        .ingest_messages
                        .inc_by(committed.messages.iter().filter(|m| m.is_live_message()).count() as u64);
                    if !committed.messages.is_empty() {
                        let committed = Arc::new(committed);
                        if let Some(bus) = &act.bus {
                            bus.publish(committed.clone());
                        }
                        act.sequencer.do_send(Sequence {
                            committed,
                            at: Instant::now(),
                        });
                    }
                    for (outcome, reply) in outcomes.into_iter().zip(answers) {
                        reply.send(outcome);
                    }
                }
                Err(e) => {
                    act.health.set(e.write_trouble());
                    log::error!("commit failed messages={count} error={e}");
                    let e = Arc::new(e);
                    for reply in answers {
                        reply.send(Err(StoreError::Commit(e.clone())));
                    }
                }
            }
            act.depth -= count;
            METRICS.ingest_queue_depth.set(act.depth as i64);
            act.in_flight = false;
            act.commit_next(ctx);
        }));
    }
}

impl Actor for IngestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Requests beyond this wait in `send` (back-pressure); the message bound is `capacity`.
        ctx.set_mailbox_capacity(1024);
    }
}

/// What a request counts against `--ingest-queue`: its messages, or one for a change.
fn weight(w: &Write) -> u64 {
    match w {
        Write::Messages(m) => m.len() as u64,
        Write::Stream(..) => 1,
    }
}

impl IngestActor {
    /// Queues a request for the next commit, unless the queue cannot take it.
    fn enqueue(&mut self, write: Write, reply: Reply, ctx: &mut Context<Self>) -> Result<(), IngestError> {
        let n = weight(&write);
        if n > self.capacity {
            return Err(IngestError::TooLarge);
        }
        if self.depth + n > self.capacity {
            return Err(IngestError::Overloaded);
        }
        self.depth += n;
        METRICS.ingest_queue_depth.set(self.depth as i64);
        self.waiting.push((write, reply));
        self.commit_next(ctx);
        Ok(())
    }
}

impl Handler<Ingest> for IngestActor {
    type Result = Result<Answer, IngestError>;

    fn handle(&mut self, msg: Ingest, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Write::Messages(msg.0), Reply::Messages(tx), ctx)?;
        Ok(rx)
    }
}

impl Handler<Operate> for IngestActor {
    type Result = Result<OpAnswer, IngestError>;

    fn handle(&mut self, msg: Operate, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Write::Stream(msg.0, msg.1), Reply::Stream(tx), ctx)?;
        Ok(rx)
    }
}

impl Handler<Flush> for IngestActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Flush, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.flushed.push(tx);
        self.commit_next(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
