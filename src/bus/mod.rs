//! The Redis Streams bus between the nodes of one database (PROTOCOL.md section 7). After
//! each commit a node appends one entry to `chatpulse:<epoch>:events`; every node reads the
//! stream from where it was and hands other nodes' commits to its sequencer. The bus is only
//! a fast path: ingest never waits on it, and whatever it loses the sequencer reads from
//! the database.
mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Addr, Recipient};
use rand::Rng;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;
use tokio::sync::mpsc;

use crate::live::messages::{Sequence, Typing};
use crate::live::sequencer::Sequencer;
use crate::metrics::METRICS;
use crate::store::Committed;

/// Commits waiting to be appended; past it they are dropped (and read from the database
/// by the other nodes).
pub const PUBLISH_QUEUE: usize = 1024;
/// Entries read per XREAD, and how long one waits for the first.
const READ_COUNT: usize = 256;
const READ_BLOCK_MS: usize = 1000;
/// Reconnect backoff: from the first to the last, doubling, with jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_LAST: Duration = Duration::from_secs(5);
/// Typing notices waiting to be appended; past it they are dropped (typing is the first
/// thing dropped anywhere).
pub const TYPING_QUEUE: usize = 256;
/// Typing notices kept in their own short stream (never the event log): they matter for
/// seconds.
const TYPING_MAXLEN: u64 = 1000;
/// How long any one Redis command may take before the connection counts as broken.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct BusSettings {
    /// `--bus`: `redis://HOST:PORT[/N]`.
    pub url: String,
    /// `--bus-maxlen`: entries kept in the stream (approximate trim).
    pub maxlen: u64,
    /// `--node-id`: names this node's entries, so it skips its own.
    pub node_id: String,
}

/// This node's side of the bus: the publishing queue and whether Redis answers.
#[derive(Clone)]
pub struct Bus {
    queue: mpsc::Sender<Arc<Committed>>,
    typing: mpsc::Sender<Typing>,
    /// Whether the reader is connected: `/healthz` and `chatpulse_bus_up` report it.
    up: Arc<AtomicBool>,
}

impl Bus {
    /// Starts the publisher and the reader of the database's stream. Fails only on a URL
    /// that cannot be a Redis URL; an unreachable Redis is retried for as long as it takes.
    pub fn start(
        settings: BusSettings,
        epoch: &str,
        sequencer: Addr<Sequencer>,
        hub: Recipient<Typing>,
    ) -> Result<Bus, redis::RedisError> {
        let client = redis::Client::open(settings.url.as_str())?;
        let key = format!("chatpulse:{epoch}:events");
        let (queue, outgoing) = mpsc::channel(PUBLISH_QUEUE);
        let (typing, typed) = mpsc::channel(TYPING_QUEUE);
        let up = Arc::new(AtomicBool::new(false));
        METRICS.bus_up.set(0);
        let typing_key = format!("chatpulse:{epoch}:typing");
        actix_web::rt::spawn(publish_typing(
            client.clone(),
            typing_key.clone(),
            settings.node_id.clone(),
            typed,
        ));
        actix_web::rt::spawn(read_typing(client.clone(), typing_key, settings.node_id.clone(), hub));
        actix_web::rt::spawn(publish(client.clone(), key.clone(), settings.clone(), outgoing));
        actix_web::rt::spawn(read(client, key, settings.node_id, sequencer, up.clone()));
        Ok(Bus { queue, typing, up })
    }

    /// Tells the other nodes someone is typing; dropped when the queue is full.
    pub fn typing(&self, typing: Typing) {
        let _ = self.typing.try_send(typing);
    }

    /// Queues a commit for the stream; never waits (it is encoded by the publisher).
    pub fn publish(&self, committed: Arc<Committed>) {
        if self.queue.try_send(committed).is_err() {
            METRICS.bus_publish_failed.inc();
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

async fn connect(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT));
    client.get_multiplexed_async_connection_with_config(&config).await
}

/// Appends queued commits, in the order they were committed here.
async fn publish(
    client: redis::Client,
    key: String,
    settings: BusSettings,
    mut outgoing: mpsc::Receiver<Arc<Committed>>,
) {
    let mut conn: Option<MultiplexedConnection> = None;
    while let Some(committed) = outgoing.recv().await {
        let (Some(first), Some(last)) = (committed.messages.first(), committed.messages.last()) else {
            continue;
        };
        let payload = match serde_json::to_string(&wire::Payload::from(committed.as_ref())) {
            Ok(p) => p,
            Err(e) => {
                log::error!("bus entry not encoded error={e}");
                continue;
            }
        };
        if conn.is_none() {
            conn = connect(&client).await.ok();
        }
        let Some(c) = conn.as_mut() else {
            METRICS.bus_publish_failed.inc();
            continue;
        };
        let appended: redis::RedisResult<String> = redis::cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(settings.maxlen)
            .arg("*")
            .arg("node")
            .arg(&settings.node_id)
            .arg("first")
            .arg(first.id.0)
            .arg("last")
            .arg(last.id.0)
            .arg("data")
            .arg(&payload)
            .query_async(c)
            .await;
        match appended {
            Ok(_) => METRICS.bus_published.inc(),
            Err(e) => {
                log::debug!("bus append failed error={e}");
                METRICS.bus_publish_failed.inc();
                conn = None;
            }
        }
    }
}

/// Appends typing notices to their own stream, dropping what fails: typing that arrives
/// late is worth nothing.
async fn publish_typing(client: redis::Client, key: String, node_id: String, mut typed: mpsc::Receiver<Typing>) {
    let mut conn: Option<MultiplexedConnection> = None;
    while let Some(t) = typed.recv().await {
        let Ok(data) = serde_json::to_string(&t) else {
            continue;
        };
        if conn.is_none() {
            conn = connect(&client).await.ok();
        }
        let Some(c) = conn.as_mut() else {
            continue;
        };
        let appended: redis::RedisResult<String> = redis::cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(TYPING_MAXLEN)
            .arg("*")
            .arg("node")
            .arg(&node_id)
            .arg("data")
            .arg(&data)
            .query_async(c)
            .await;
        if appended.is_err() {
            conn = None;
        }
    }
}

/// Hands other nodes' typing to this node's hub, from the newest on (nothing missed while
/// disconnected is worth replaying).
async fn read_typing(client: redis::Client, key: String, node_id: String, hub: Recipient<Typing>) {
    let options = StreamReadOptions::default().count(READ_COUNT).block(READ_BLOCK_MS);
    loop {
        if let Ok(mut conn) = connect(&client).await {
            let mut from = "$".to_owned();
            loop {
                let reply: redis::RedisResult<Option<StreamReadReply>> =
                    conn.xread_options(&[key.as_str()], &[from.as_str()], &options).await;
                let Ok(reply) = reply else { break };
                for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                    from = entry.id.clone();
                    if entry.get::<String>("node").as_deref() == Some(node_id.as_str()) {
                        continue;
                    }
                    let typing = entry.get::<String>("data").and_then(|d| serde_json::from_str(&d).ok());
                    if let Some(t) = typing {
                        let _ = hub.try_send(t);
                    }
                }
            }
        }
        actix_web::rt::time::sleep(BACKOFF_LAST).await;
    }
}

/// Reads the stream for as long as the server runs, reconnecting with backoff.
async fn read(client: redis::Client, key: String, node_id: String, sequencer: Addr<Sequencer>, up: Arc<AtomicBool>) {
    // Where to read on from; `None` until the first connection says where the stream ends
    // (what was there before this node started, the database already holds).
    let mut last_id: Option<String> = None;
    let mut backoff = BACKOFF_FIRST;
    // Whether the outage going on was logged: once when it starts, not once per retry.
    let mut reported = false;
    loop {
        if let Err(e) = read_connected(&client, &key, &node_id, &sequencer, &up, &mut last_id).await {
            if up.swap(false, Ordering::Relaxed) {
                // It was connected: a new outage, retried from the shortest wait.
                backoff = BACKOFF_FIRST;
                reported = false;
            }
            if !reported {
                log::warn!("bus down error={e}; live delivery goes on through the database");
                reported = true;
            }
            METRICS.bus_up.set(0);
        }
        let jitter = rand::rng().random_range(0.5..1.0);
        actix_web::rt::time::sleep(backoff.mul_f64(jitter)).await;
        backoff = (backoff * 2).min(BACKOFF_LAST);
    }
}

async fn read_connected(
    client: &redis::Client,
    key: &str,
    node_id: &str,
    sequencer: &Addr<Sequencer>,
    up: &AtomicBool,
    last_id: &mut Option<String>,
) -> redis::RedisResult<()> {
    let mut conn = connect(client).await?;
    if last_id.is_none() {
        let newest: redis::streams::StreamRangeReply = conn.xrevrange_count(key, "+", "-", 1).await?;
        *last_id = Some(newest.ids.first().map_or_else(|| "0-0".to_owned(), |e| e.id.clone()));
    }
    if !up.swap(true, Ordering::Relaxed) {
        log::info!("bus up key={key}");
    }
    METRICS.bus_up.set(1);
    let options = StreamReadOptions::default().count(READ_COUNT).block(READ_BLOCK_MS);
    loop {
        let from = last_id.clone().unwrap_or_else(|| "0-0".to_owned());
        let reply: Option<StreamReadReply> = conn.xread_options(&[key], &[from.as_str()], &options).await?;
        for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            *last_id = Some(entry.id.clone());
            if entry.get::<String>("node").as_deref() == Some(node_id) {
                continue;
            }
            let Some(data) = entry.get::<String>("data") else {
                continue;
            };
            match serde_json::from_str::<wire::Payload>(&data) {
                Ok(payload) => {
                    METRICS.bus_read.inc();
                    sequencer.do_send(Sequence {
                        committed: Arc::new(payload.into()),
                        at: Instant::now(),
                    });
                }
                Err(e) => log::warn!("bus entry not understood id={} error={e}", entry.id),
            }
        }
    }
}
