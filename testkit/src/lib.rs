//! The one harness of chatpulse's tests and of its load generator (the `TestApp` model of
//! the Rust registry's own code base): the real `chatpulse` binary started on a fresh
//! temporary database with typed settings, ready once `/healthz` answers, and talked to
//! over real sockets exactly as PROTOCOL.md says.
//!
//! `TestApp::builder().catchup_batch(200).start().await` gives a running server; `Api`
//! (reachable through `TestApp` by deref, cloneable into spawned tasks) speaks HTTP;
//! `Live` is a WebSocket or SSE subscriber that yields parsed envelopes. A test fails when
//! its server logged an error, unless it declared `.expect_errors()`.
//!
//! `CHATPULSE_TEST_DATABASE=postgres` runs every `TestApp` on a PostgreSQL database of its
//! own instead of a SQLite file; `TestCluster` runs several nodes on one PostgreSQL
//! database and a Redis bus; `RedisServer` is a Redis a test can kill and restart, and
//! `Redis` a small client to read or edit the bus (see `services`).
use std::time::Duration;

mod api;
mod app;
mod checks;
mod cluster;
mod live;
pub mod prometheus;
mod server;
pub mod services;

pub use api::{enc, Api, Resp};
pub use app::TestApp;
pub use checks::*;
pub use cluster::{ClusterBuilder, TestCluster};
pub use live::*;
pub use prometheus::parse_metric;
/// The Redis client crate, for tests that need more than [`Redis`] offers.
pub use redis;
pub use server::{command_line, server_bin, user_token, ServerLog, ServerProcess, ServerSettings};
pub use services::{
    bus_stream_key, postgres_admin_url, redis_url, skip_on_postgres, Backend, IrcdServer, PgDatabase, PostgresServer,
    Redis, RedisServer,
};

/// Default patience for anything the server should do "soon". Never used to
/// assert speed: only to turn a hang into a readable failure.
pub const WAIT: Duration = Duration::from_secs(15);
pub const LONG_WAIT: Duration = Duration::from_secs(60);
