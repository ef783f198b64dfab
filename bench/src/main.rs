//! `chatpulse-bench`: the load generator of BENCHMARKS.md.
//!
//! It drives a chatpulse server over its public protocol only (HTTP, WebSocket, SSE:
//! PROTOCOL.md), on loopback only, for a bounded time, and prints a table (or `--json`).
//! By default every run spawns the server binary itself on a fresh temporary database,
//! so it can read the server's CPU time and resident memory from `/proc/<pid>`.
//! The one exception to "protocol only" is the raw baseline of `ingest-batch`, which
//! writes the same rows straight through `chatpulse::store` on a fresh database.
//!
//! ```text
//! chatpulse-bench [--runs 3] [--json] <scenario> [options]
//! scenarios: ingest-batch, ingest-single, fanout, slow-consumers, reconnect-storm, connections,
//!            node-kill, soak, irc, stream, pages, bootstrap, badges, typing, files
//! ```
//!
//! `fanout --nodes N` and `node-kill` run N nodes on one fresh PostgreSQL database
//! (`--pg-admin-url`) joined by a Redis bus (`--redis-url`); `ingest-batch --backend
//! postgres` runs the server and its raw baseline on fresh PostgreSQL databases.
mod badges;
mod bootstrap;
mod connections;
mod fanout;
mod files;
mod http;
mod ingest;
mod irc;
mod live;
mod messages;
mod node_kill;
mod pages;
mod people;
mod reconnect_storm;
mod report;
mod server;
mod slow_consumers;
mod soak;
mod stream;
mod typing;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::report::Run;
use crate::server::{backend_name, DbBackend};

/// What the scenario modules share: std, the client crates, and this crate's helpers.
mod prelude {
    pub(crate) use std::cell::RefCell;
    pub(crate) use std::net::IpAddr;
    pub(crate) use std::pin::Pin;
    pub(crate) use std::rc::Rc;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
    pub(crate) use std::sync::Arc;
    pub(crate) use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    pub(crate) use awc::ws;
    pub(crate) use bytes::Bytes;
    pub(crate) use chatpulse_testkit::WsIo;
    pub(crate) use futures_util::{SinkExt, Stream, StreamExt};
    pub(crate) use serde_json::{json, Value};

    pub(crate) use crate::http::*;
    pub(crate) use crate::live::*;
    pub(crate) use crate::messages::*;
    pub(crate) use crate::report::*;
    pub(crate) use crate::server::*;
    pub(crate) use crate::{Common, Transport};
}

#[derive(Parser, Debug)]
#[command(
    name = "chatpulse-bench",
    about = "Load generator for chatpulse (loopback only, bounded duration)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct Common {
    /// Server binary to spawn on a fresh temporary database for every run
    /// (default: `chatpulse` next to this binary).
    #[arg(long, global = true)]
    pub(crate) server_bin: Option<PathBuf>,
    /// Extra flag for the spawned server, repeatable: `--server-arg=--queue-bytes=65536`.
    #[arg(long = "server-arg", global = true, allow_hyphen_values = true)]
    pub(crate) server_args: Vec<String>,
    /// Use an already running server instead of spawning one (must be http://127.0.0.x).
    #[arg(long, global = true)]
    pub(crate) url: Option<String>,
    /// Pid of the server given by `--url`, for CPU and memory from /proc.
    #[arg(long, global = true)]
    pub(crate) server_pid: Option<u32>,
    /// Repeat the scenario this many times (fresh server each) and report medians.
    #[arg(long, global = true, default_value_t = 1)]
    pub(crate) runs: usize,
    /// Print one JSON object instead of a table.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Threads that run the live clients (each its own event loop).
    #[arg(long, global = true, default_value_t = 1)]
    pub(crate) client_threads: usize,
    /// PostgreSQL admin URL on which `--backend postgres` and several nodes create a
    /// fresh database per run (dropped at its end).
    #[arg(long, global = true, default_value = chatpulse_testkit::services::DEFAULT_POSTGRES_ADMIN_URL)]
    pub(crate) pg_admin_url: String,
    /// Redis of the bus between several nodes; a run deletes its keys
    /// (`chatpulse:<epoch>:*`) at its end.
    #[arg(long, global = true, default_value = chatpulse_testkit::services::DEFAULT_REDIS_URL)]
    pub(crate) redis_url: String,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Transport {
    Ws,
    Sse,
}

#[derive(Subcommand, Debug, Clone)]
enum Scenario {
    /// W writers posting batches of B messages; plus the raw store baseline.
    IngestBatch {
        #[arg(long, default_value_t = 4)]
        writers: usize,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Seconds of load.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Skip the raw baseline through the store module.
        #[arg(long)]
        no_raw: bool,
        /// Experiment: SQL run on the raw baseline's connection before it writes
        /// (e.g. "PRAGMA temp_store = MEMORY"), to try a store change without a rebuild.
        #[arg(long)]
        raw_pragma: Option<String>,
        /// The server's database and the raw baseline's: fresh SQLite files, or fresh
        /// databases on the PostgreSQL of `--pg-admin-url` (then also the exact-count checks).
        #[arg(long, value_enum, default_value_t = DbBackend::Sqlite)]
        backend: DbBackend,
    },
    /// C concurrent writers posting one message per request.
    IngestSingle {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// S subscribers on a view, R msg/s ingested at a steady rate.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 500)]
        rate: u64,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
        #[arg(long, default_value = "messages")]
        view: String,
        /// Pad every message text to at least this many bytes.
        #[arg(long, default_value_t = 0)]
        text_bytes: usize,
        /// Server nodes: more than 1 runs them on one PostgreSQL database with the Redis
        /// bus, ingest on node 0, the subscribers round-robin over all nodes.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// The database (default: SQLite for one node, PostgreSQL for several).
        #[arg(long, value_enum)]
        backend: Option<DbBackend>,
    },
    /// SIGKILL a node under S subscribers; they resume on the survivors.
    NodeKill {
        /// Nodes on one PostgreSQL database with the Redis bus; node 0 ingests, node 1 dies.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Subscribers, all on node 1 until it is killed.
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// Seconds of load.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Seconds into the load at which node 1 gets SIGKILL.
        #[arg(long, default_value_t = 3.0)]
        kill_after: f64,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
    },
    /// A database of N messages, then every page and analytics route read R times while R
    /// msg/s are ingested: p50 and p99 per route.
    Pages {
        #[arg(long, default_value_t = 10_000_000)]
        messages: u64,
        #[arg(long, default_value_t = 200)]
        channels: u64,
        #[arg(long, default_value_t = 200_000)]
        users: u64,
        /// Days the messages' `sent_at` spread over, up to now.
        #[arg(long, default_value_t = 30)]
        days: u64,
        /// Messages per second ingested while the routes are read.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Reads of each route.
        #[arg(long, default_value_t = 20)]
        requests: usize,
    },
    /// S subscribers on one busy stream (posts, edits, thread replies through the stream
    /// API) against S on the v1 `messages` view in the same run, one event per request on
    /// both: CPU per delivery of each.
    Stream {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Events (or v1 messages) per second.
        #[arg(long, default_value_t = 500)]
        rate: u64,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
    },
    /// A person in S streams of a log of N events: p50/p99 of `GET /api/bootstrap`, quiet
    /// and during ingest, every badge in the answers checked.
    Bootstrap {
        /// Streams the person is in (channels c0000.., at most 1,000).
        #[arg(long, default_value_t = 1000)]
        streams: usize,
        /// v1 messages filling the log (the person joins halfway).
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// `@person` mentions posted through the stream API (a tenth deleted again).
        #[arg(long, default_value_t = 2000)]
        mentions: u64,
        /// Bootstraps read, quiet and again during ingest.
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// v1 messages/s ingested into the person's streams during the second reads.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, value_enum, default_value_t = DbBackend::Sqlite)]
        backend: DbBackend,
    },
    /// P people with the `workspace` view open, in streams of M members, R posts/s into
    /// them: post to `unread` envelope latency, server CPU per badge update.
    Badges {
        #[arg(long, default_value_t = 1000)]
        people: usize,
        /// Streams of M people each: of every four, a public channel, a DM and two private
        /// channels.
        #[arg(long, default_value_t = 300)]
        streams: usize,
        #[arg(long, default_value_t = 10)]
        members: usize,
        /// Posts per second (through the stream API, one a request).
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Seconds of posts in each phase (no view open, then every view open).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// S signed-in subscribers on one stream, R posts/s, in slices alternating without and
    /// with T of them typing: message p99 with typing against without, in the same run.
    Typing {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 50)]
        typists: usize,
        /// Posts per second into the stream.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Seconds of posts in each phase (without, then with typing).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Each typist's typing frames, one every this many ms.
        #[arg(long, default_value_t = 300)]
        typing_every_ms: u64,
        /// Slices of each phase: the run alternates a slice without typing and one with,
        /// this many times (each `--duration`/N seconds).
        #[arg(long, default_value_t = 5)]
        slices: usize,
    },
    /// S subscribers on `messages` while R msg/s are ingested, without and then with W
    /// workers uploading, downloading and deleting files of M MiB: server memory growth and
    /// the fan-out p99 with files against without, in the same run.
    Files {
        #[arg(long, default_value_t = 200)]
        subscribers: usize,
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Seconds of messages in each phase (without, then with files).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long, default_value_t = 50)]
        workers: usize,
        /// Each file's size, in MiB.
        #[arg(long, default_value_t = 5)]
        file_mib: usize,
    },
    /// A local IRC server sends R lines/s over C channels to the server's IRC reader, with S
    /// live subscribers: send-to-live lag, every line stored once.
    Irc {
        #[arg(long, default_value_t = 20_000)]
        rate: u64,
        #[arg(long, default_value_t = 100)]
        channels: usize,
        #[arg(long, default_value_t = 100)]
        subscribers: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Everything at once for a long time: ingest, WS and SSE readers, connection churn,
    /// stalled clients; RSS over time, sessions left, 5xx, loss.
    Soak {
        #[arg(long, default_value_t = 200)]
        readers: usize,
        #[arg(long, default_value_t = 50)]
        stalled: usize,
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Seconds (30 minutes: 1800).
        #[arg(long, default_value_t = 1800.0)]
        duration: f64,
    },
    /// X clients that stop reading among S healthy ones.
    SlowConsumers {
        #[arg(long, default_value_t = 500)]
        healthy: usize,
        #[arg(long, default_value_t = 100)]
        stalled: usize,
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// Seconds of each phase (without, then with the stalled clients).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
        #[arg(long, default_value_t = 0)]
        text_bytes: usize,
    },
    /// K clients M messages behind resume at once with their `after_id`.
    ReconnectStorm {
        #[arg(long, default_value_t = 2000)]
        clients: usize,
        #[arg(long, default_value_t = 1000)]
        behind: usize,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
        /// Distinct 127.0.0.x source addresses.
        #[arg(long, default_value_t = 4)]
        source_addrs: u8,
    },
    /// K idle live connections: server memory per connection and connect time.
    Connections {
        #[arg(long, default_value_t = 10000)]
        count: usize,
        #[arg(long, value_enum, default_value_t = Transport::Ws)]
        transport: Transport,
        #[arg(long, default_value_t = 8)]
        source_addrs: u8,
        /// Connection attempts in flight at once.
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
        /// Seconds to hold the connections open after the last one connected.
        #[arg(long, default_value_t = 2.0)]
        hold: f64,
    },
}

impl Scenario {
    fn name(&self) -> String {
        match self {
            Scenario::IngestBatch { .. } => "ingest-batch".into(),
            Scenario::IngestSingle { .. } => "ingest-single".into(),
            Scenario::Fanout { transport, .. } => format!("fanout ({})", tname(*transport)),
            Scenario::SlowConsumers { transport, .. } => format!("slow-consumers ({})", tname(*transport)),
            Scenario::Soak { .. } => "soak".to_owned(),
            Scenario::Irc { .. } => "irc".to_owned(),
            Scenario::Stream { transport, .. } => format!("stream ({})", tname(*transport)),
            Scenario::Pages { .. } => "pages".to_owned(),
            Scenario::Bootstrap { backend, .. } => format!("bootstrap ({})", backend_name(*backend)),
            Scenario::Badges { .. } => "badges".to_owned(),
            Scenario::Typing { .. } => "typing".to_owned(),
            Scenario::Files { .. } => "files".to_owned(),
            Scenario::ReconnectStorm { transport, .. } => format!("reconnect-storm ({})", tname(*transport)),
            Scenario::Connections { transport, .. } => format!("connections ({})", tname(*transport)),
            Scenario::NodeKill { transport, .. } => format!("node-kill ({})", tname(*transport)),
        }
    }
}

pub(crate) fn tname(t: Transport) -> &'static str {
    match t {
        Transport::Ws => "ws",
        Transport::Sse => "sse",
    }
}

fn settings_of(s: &Scenario, c: &Common) -> Value {
    let mut v = match s {
        Scenario::IngestBatch {
            writers,
            batch,
            duration,
            no_raw,
            raw_pragma,
            backend,
        } => {
            let mut v = json!({"writers": writers, "batch": batch, "duration_s": duration, "raw_baseline": !no_raw, "raw_pragma": raw_pragma});
            if *backend != DbBackend::Sqlite {
                v["backend"] = json!(backend_name(*backend));
            }
            v
        }
        Scenario::IngestSingle { concurrency, duration } => json!({"concurrency": concurrency, "duration_s": duration}),
        Scenario::Fanout {
            subscribers,
            rate,
            duration,
            transport,
            view,
            text_bytes,
            nodes,
            backend,
        } => {
            let mut v = json!({"subscribers": subscribers, "rate": rate, "duration_s": duration, "transport": tname(*transport), "view": view, "text_bytes": text_bytes});
            let backend = fanout_backend(*nodes, *backend);
            if *nodes != 1 || backend != DbBackend::Sqlite {
                v["nodes"] = json!(nodes);
                v["backend"] = json!(backend_name(backend));
            }
            v
        }
        Scenario::NodeKill {
            nodes,
            subscribers,
            rate,
            duration,
            kill_after,
            transport,
        } => {
            json!({"nodes": nodes, "subscribers": subscribers, "rate": rate, "duration_s": duration, "kill_after_s": kill_after, "transport": tname(*transport), "backend": "postgres"})
        }
        Scenario::Soak {
            readers,
            stalled,
            rate,
            duration,
        } => json!({"readers": readers, "stalled": stalled, "rate": rate, "duration_s": duration}),
        Scenario::Irc {
            rate,
            channels,
            subscribers,
            duration,
        } => json!({"rate": rate, "channels": channels, "subscribers": subscribers, "duration_s": duration}),
        Scenario::Stream {
            subscribers,
            rate,
            duration,
            transport,
        } => json!({"subscribers": subscribers, "rate": rate, "duration_s": duration, "transport": tname(*transport)}),
        Scenario::Pages {
            messages,
            channels,
            users,
            days,
            rate,
            requests,
        } => {
            json!({"messages": messages, "channels": channels, "users": users, "days": days, "rate": rate, "requests": requests})
        }
        Scenario::Bootstrap {
            streams,
            messages,
            mentions,
            requests,
            rate,
            backend,
        } => {
            json!({"streams": streams, "messages": messages, "mentions": mentions, "requests": requests, "rate": rate, "backend": backend_name(*backend)})
        }
        Scenario::Badges {
            people,
            streams,
            members,
            rate,
            duration,
        } => {
            json!({"people": people, "streams": streams, "members": members, "rate": rate, "duration_s": duration})
        }
        Scenario::Typing {
            subscribers,
            typists,
            rate,
            duration,
            typing_every_ms,
            slices,
        } => {
            json!({"subscribers": subscribers, "typists": typists, "rate": rate, "duration_s": duration, "typing_every_ms": typing_every_ms, "slices": slices})
        }
        Scenario::Files {
            subscribers,
            rate,
            duration,
            workers,
            file_mib,
        } => {
            json!({"subscribers": subscribers, "rate": rate, "duration_s": duration, "workers": workers, "file_mib": file_mib})
        }
        Scenario::SlowConsumers {
            healthy,
            stalled,
            rate,
            duration,
            transport,
            text_bytes,
        } => {
            json!({"healthy": healthy, "stalled": stalled, "rate": rate, "phase_duration_s": duration, "transport": tname(*transport), "text_bytes": text_bytes})
        }
        Scenario::ReconnectStorm {
            clients,
            behind,
            transport,
            source_addrs,
        } => {
            json!({"clients": clients, "behind": behind, "transport": tname(*transport), "source_addrs": source_addrs})
        }
        Scenario::Connections {
            count,
            transport,
            source_addrs,
            in_flight,
            hold,
        } => {
            json!({"count": count, "transport": tname(*transport), "source_addrs": source_addrs, "in_flight": in_flight, "hold_s": hold})
        }
    };
    v["server_args"] = json!(c.server_args);
    v["client_threads"] = json!(c.client_threads);
    v["cores"] = json!(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    v
}

/// Fan-out's database: as given, else SQLite for one node and PostgreSQL for several.
fn fanout_backend(nodes: usize, backend: Option<DbBackend>) -> DbBackend {
    backend.unwrap_or(if nodes > 1 {
        DbBackend::Postgres
    } else {
        DbBackend::Sqlite
    })
}

async fn run_once(s: &Scenario, c: &Common) -> Run {
    match s.clone() {
        Scenario::IngestBatch {
            writers,
            batch,
            duration,
            no_raw,
            raw_pragma,
            backend,
        } => ingest::run(c, writers, batch, duration, !no_raw, raw_pragma.as_deref(), backend).await,
        Scenario::IngestSingle { concurrency, duration } => {
            ingest::run(c, concurrency, 1, duration, false, None, DbBackend::Sqlite).await
        }
        Scenario::Fanout {
            subscribers,
            rate,
            duration,
            transport,
            view,
            text_bytes,
            nodes,
            backend,
        } => {
            let backend = fanout_backend(nodes, backend);
            fanout::run(
                c,
                subscribers,
                rate,
                duration,
                transport,
                &view,
                text_bytes,
                nodes,
                backend,
            )
            .await
        }
        Scenario::NodeKill {
            nodes,
            subscribers,
            rate,
            duration,
            kill_after,
            transport,
        } => node_kill::run(c, nodes, subscribers, rate, duration, kill_after, transport).await,
        Scenario::SlowConsumers {
            healthy,
            stalled,
            rate,
            duration,
            transport,
            text_bytes,
        } => slow_consumers::run(c, healthy, stalled, rate, duration, transport, text_bytes).await,
        Scenario::Soak {
            readers,
            stalled,
            rate,
            duration,
        } => soak::run(c, readers, stalled, rate, duration).await,
        Scenario::Irc {
            rate,
            channels,
            subscribers,
            duration,
        } => irc::run(c, rate, channels, subscribers, duration).await,
        Scenario::Stream {
            subscribers,
            rate,
            duration,
            transport,
        } => stream::run(c, subscribers, rate, duration, transport).await,
        Scenario::Pages {
            messages,
            channels,
            users,
            days,
            rate,
            requests,
        } => {
            let args = pages::PagesArgs {
                messages,
                channels,
                users,
                days,
                rate,
                requests,
            };
            pages::run(c, args).await
        }
        Scenario::Bootstrap {
            streams,
            messages,
            mentions,
            requests,
            rate,
            backend,
        } => {
            let args = bootstrap::BootstrapArgs {
                streams,
                messages,
                mentions,
                requests,
                rate,
                backend,
            };
            bootstrap::run(c, args).await
        }
        Scenario::Badges {
            people,
            streams,
            members,
            rate,
            duration,
        } => {
            let args = badges::BadgesArgs {
                people,
                streams,
                members,
                rate,
                duration,
            };
            badges::run(c, args).await
        }
        Scenario::Typing {
            subscribers,
            typists,
            rate,
            duration,
            typing_every_ms,
            slices,
        } => {
            let args = typing::TypingArgs {
                subscribers,
                typists,
                rate,
                duration,
                typing_every_ms,
                slices,
            };
            typing::run(c, args).await
        }
        Scenario::Files {
            subscribers,
            rate,
            duration,
            workers,
            file_mib,
        } => {
            let args = files::FilesArgs {
                subscribers,
                rate,
                duration,
                workers,
                file_mib,
            };
            files::run(c, args).await
        }
        Scenario::ReconnectStorm {
            clients,
            behind,
            transport,
            source_addrs,
        } => reconnect_storm::run(c, clients, behind, transport, source_addrs).await,
        Scenario::Connections {
            count,
            transport,
            source_addrs,
            in_flight,
            hold,
        } => connections::run(c, count, transport, source_addrs, in_flight, hold).await,
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runs = cli.common.runs.max(1);
    let mut all: Vec<Run> = Vec::new();
    for i in 0..runs {
        if !cli.common.json {
            eprintln!("{}: run {}/{runs}...", cli.scenario.name(), i + 1);
        }
        let run = actix_rt::System::new().block_on(run_once(&cli.scenario, &cli.common));
        all.push(run);
    }
    let settings = settings_of(&cli.scenario, &cli.common);
    if report::print(&cli.scenario.name(), settings, cli.common.json, &all) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
