//! The one harness of chatpulse's tests and of its load generator (crates.io's `TestApp`
//! model): the real `chatpulse` binary started on a fresh temporary database with typed
//! settings, ready once `/healthz` answers, and talked to over real sockets exactly as
//! PROTOCOL.md says.
//!
//! `TestApp::builder().catchup_batch(200).start().await` gives a running server; `Api`
//! (reachable through `TestApp` by deref, cloneable into spawned tasks) speaks HTTP;
//! `Live` is a WebSocket or SSE subscriber that yields parsed envelopes. A test fails when
//! its server logged an error, unless it declared `.expect_errors()`.
use std::time::Duration;

mod api;
mod app;
mod checks;
mod live;
pub mod prometheus;
mod server;

pub use api::{enc, Api, Resp};
pub use app::TestApp;
pub use checks::*;
pub use live::*;
pub use prometheus::parse_metric;
pub use server::{server_bin, ServerLog, ServerProcess, ServerSettings};

/// Default patience for anything the server should do "soon". Never used to
/// assert speed: only to turn a hang into a readable failure.
pub const WAIT: Duration = Duration::from_secs(15);
pub const LONG_WAIT: Duration = Duration::from_secs(60);
